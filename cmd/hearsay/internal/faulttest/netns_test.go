package faulttest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A test network of network namespaces: one namespace per agent, each with
// a veth pair whose other end is a port of a bridge in a namespace of its
// own. Nothing is added to the test's own namespace but the namespaces'
// names (/run/netns/hs-PID-*); the addresses (10.213.0.0/24) exist only
// inside them. Faults are nftables rules inside the agents' namespaces.

// requireEnv is the environment variable that turns the "cannot run here"
// skip into a failure; .ci/run sets it when it runs as root.
const requireEnv = "HEARSAY_REQUIRE_NETNS"

// needNetns skips t (or fails it, when requireEnv is 1) unless the
// process is root and has ip and nft.
func needNetns(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces and nftables need it)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" on PATH (apt-get install iproute2 nftables)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "network-namespace fault test needs " + strings.Join(missing, ", ")
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf("%s, and %s=1 requires it to run", msg, requireEnv)
	}
	t.Skipf("%s; skipped (set %s=1 to make this a failure)", msg, requireEnv)
}

// netnsNet is the test network.
type netnsNet struct {
	bridge string   // the bridge's namespace
	nodes  []string // one namespace per agent
	ips    []string // the agents' addresses, one per namespace
}

// run runs a command (10 s at most) and fails t with its output if it
// fails.
func run(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
}

// newNetnsNet builds a network of n agent namespaces on a bridge and
// deletes it (namespaces, and with them their links) when t ends.
func newNetnsNet(t *testing.T, n int) *netnsNet {
	t.Helper()
	removeStaleNamespaces(t)
	prefix := fmt.Sprintf("hs-%d-", os.Getpid())
	addNS := func(name string) {
		run(t, "", "ip", "netns", "add", name)
		t.Cleanup(func() {
			out, err := exec.Command("ip", "netns", "del", name).CombinedOutput()
			if err != nil {
				t.Errorf("removing namespace %s: %v: %s", name, err, out)
			}
		})
	}
	nw := &netnsNet{bridge: prefix + "br"}
	addNS(nw.bridge)
	run(t, "", "ip", "-n", nw.bridge, "link", "add", "br0", "type", "bridge")
	run(t, "", "ip", "-n", nw.bridge, "link", "set", "br0", "up")
	for i := range n {
		ns, port, ip := fmt.Sprintf("%s%d", prefix, i+1), fmt.Sprintf("p%d", i+1), fmt.Sprintf("10.213.0.%d", i+1)
		addNS(ns)
		// Both ends are created inside their namespaces: no name is ever
		// taken in the test's own.
		run(t, "", "ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", nw.bridge)
		run(t, "", "ip", "-n", nw.bridge, "link", "set", port, "master", "br0")
		run(t, "", "ip", "-n", nw.bridge, "link", "set", port, "up")
		run(t, "", "ip", "-n", ns, "addr", "add", ip+"/24", "dev", "eth0")
		run(t, "", "ip", "-n", ns, "link", "set", "eth0", "up")
		run(t, "", "ip", "-n", ns, "link", "set", "lo", "up")
		nw.nodes = append(nw.nodes, ns)
		nw.ips = append(nw.ips, ip)
	}
	return nw
}

// removeStaleNamespaces deletes the namespaces of earlier runs whose test
// process is gone (killed before its cleanup ran).
func removeStaleNamespaces(t *testing.T) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	re := regexp.MustCompile(`(?m)^(hs-(\d+)-\w+)`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		pid, err := strconv.Atoi(m[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			t.Logf("removing stale namespace %s", m[1])
			_ = exec.Command("ip", "netns", "del", m[1]).Run()
		}
	}
}

// nft replaces the nftables rules of namespace ns with ruleset ("" only
// flushes).
func (nw *netnsNet) nft(t *testing.T, ns, ruleset string) {
	t.Helper()
	run(t, "flush ruleset\n"+ruleset, "ip", "netns", "exec", ns, "nft", "-f", "-")
}

// partition drops every packet between the sides (indexes of nodes).
func (nw *netnsNet) partition(t *testing.T, sides ...[]int) {
	t.Helper()
	for si, side := range sides {
		var others []string
		for sj, o := range sides {
			if sj != si {
				for _, i := range o {
					others = append(others, nw.ips[i])
				}
			}
		}
		set := "{ " + strings.Join(others, ", ") + " }"
		for _, i := range side {
			nw.nft(t, nw.nodes[i], fmt.Sprintf(`table inet hearsay_fault {
	chain input { type filter hook input priority 0; policy accept; ip saddr %s drop; }
	chain output { type filter hook output priority 0; policy accept; ip daddr %s drop; }
}
`, set, set))
		}
	}
}

// loss drops pct % of the packets every namespace receives on its link to
// the bridge (the kernel here has no netem; nftables' numgen does it).
func (nw *netnsNet) loss(t *testing.T, pct int) {
	t.Helper()
	for _, ns := range nw.nodes {
		nw.nft(t, ns, fmt.Sprintf(`table inet hearsay_fault {
	chain input { type filter hook input priority 0; policy accept; iifname "eth0" numgen random mod 100 < %d drop; }
}
`, pct))
	}
}

// heal removes every fault rule.
func (nw *netnsNet) heal(t *testing.T) {
	t.Helper()
	for _, ns := range nw.nodes {
		nw.nft(t, ns, "")
	}
}

// nsClient returns an HTTP client whose connections are made from inside
// namespace ns, so that the test reaches an agent's API on that
// namespace's own loopback address.
func nsClient(ns string) *http.Client {
	path := filepath.Join("/run/netns", ns)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// The socket is made on an OS thread moved into ns. The
			// thread is never unlocked: the runtime ends it with this
			// goroutine instead of reusing it in the wrong namespace.
			runtime.LockOSThread()
			c, err := dialInNS(ctx, path, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{
		Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second},
		Timeout:   10 * time.Second,
	}
}

func dialInNS(ctx context.Context, path, network, addr string) (net.Conn, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace: %w", err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("entering network namespace %s: %w", path, err)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
