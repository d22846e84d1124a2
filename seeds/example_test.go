package seeds_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hearsay-io/hearsay/seeds"
	"github.com/hearsay-io/hearsay/seeds/dnstest"
)

// The examples resolve names against a dnstest server on 127.0.0.1, where
// a real deployment leaves Server empty (the system resolver) or points it
// at the cluster's DNS.

func ExampleNewStatic() {
	// The agent's --seeds flag: "10.0.0.2,10.0.0.1:7001,[fd00::3]:7000,".
	flag := "10.0.0.2,10.0.0.1:7001,[fd00::3]:7000,"
	p, err := seeds.NewStatic(strings.Split(flag, ","), 7000)
	if err != nil {
		fmt.Println(err)
		return
	}
	list, err := p.Seeds(context.Background())
	fmt.Println(list, err)

	_, err = seeds.NewStatic([]string{"10.0.0.1:70000"}, 7000)
	fmt.Println(err)
	// Output:
	// [10.0.0.1:7001 10.0.0.2:7000 [fd00::3]:7000] <nil>
	// new static seeds: entry 1 "10.0.0.1:70000": port "70000" is not a number in 1-65535
}

func ExampleNewDNS() {
	srv, err := dnstest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.SetA("hearsay.test", "127.0.0.2", "127.0.0.1")

	// The agent's --seed-dns hearsay.test:7000 --dns-server 127.0.0.1:PORT.
	name, port, err := seeds.ParseNamePort("hearsay.test:7000", 7000)
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := seeds.DefaultDNSConfig()
	cfg.Name, cfg.Port, cfg.Server = name, port, srv.Addr()
	p, err := seeds.NewDNS(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	list, err := p.Seeds(context.Background())
	fmt.Println(list, err)
	// Output: [127.0.0.1:7000 127.0.0.2:7000] <nil>
}

func ExampleNewDNS_srv() {
	srv, err := dnstest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	// What a Kubernetes headless Service with a port named "gossip" serves.
	const name = "_gossip._tcp.hearsay.ns.svc.cluster.local"
	srv.SetSRV(name,
		dnstest.SRV{Target: "hearsay-0.hearsay.ns.svc.cluster.local", Port: 7000},
		dnstest.SRV{Target: "hearsay-1.hearsay.ns.svc.cluster.local", Port: 7000})
	srv.SetA("hearsay-0.hearsay.ns.svc.cluster.local", "127.0.0.10")
	srv.SetA("hearsay-1.hearsay.ns.svc.cluster.local", "127.0.0.11")

	// The agent's --seed-srv _gossip._tcp.hearsay.ns.svc.cluster.local.
	cfg := seeds.DefaultDNSConfig()
	cfg.Name, cfg.SRV, cfg.Server = name, true, srv.Addr()
	p, err := seeds.NewDNS(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	list, err := p.Seeds(context.Background())
	fmt.Println(list, err)
	// Output: [127.0.0.10:7000 127.0.0.11:7000] <nil>
}

func ExampleNewFile() {
	dir, err := os.MkdirTemp("", "seeds-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "seeds")
	content := "# gossip seeds\n10.0.0.1\n10.0.0.2:7001  # rack 2\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		fmt.Println(err)
		return
	}

	// The agent's --seed-file PATH.
	p, err := seeds.NewFile(path, 7000)
	if err != nil {
		fmt.Println(err)
		return
	}
	list, err := p.Seeds(context.Background())
	fmt.Println(list, err)
	// Output: [10.0.0.1:7000 10.0.0.2:7001] <nil>
}

func ExampleNewMulti() {
	a, err := seeds.NewStatic([]string{"10.0.0.1", "10.0.0.2"}, 7000)
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := seeds.NewStatic([]string{"10.0.0.2", "10.0.0.3"}, 7000)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := seeds.NewMulti(a, b)
	if err != nil {
		fmt.Println(err)
		return
	}
	list, err := p.Seeds(context.Background())
	fmt.Println(list, err)
	// Output: [10.0.0.1:7000 10.0.0.2:7000 10.0.0.3:7000] <nil>
}

func ExampleWatcher() {
	srv, err := dnstest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.SetA("hearsay.test", "127.0.0.1")

	cfg := seeds.DefaultDNSConfig()
	cfg.Name, cfg.Port, cfg.Server = "hearsay.test", 7000, srv.Addr()
	p, err := seeds.NewDNS(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}

	// The gossiper runs the watcher in its own goroutine; the callback
	// hands each new list to the gossip loop without blocking it.
	updates := make(chan []string, 4)
	w, err := seeds.NewWatcher(p, seeds.WatcherConfig{Interval: 10 * time.Millisecond}, func(list []string) {
		select {
		case updates <- list:
		default: // the loop reads w.Seeds() anyway
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	next := func() []string {
		select {
		case list := <-updates:
			return list
		case <-time.After(10 * time.Second):
			return nil
		}
	}

	fmt.Println(next())
	srv.SetA("hearsay.test", "127.0.0.2", "127.0.0.3") // a redeploy moves the seeds
	fmt.Println(next())
	cancel()
	fmt.Println(<-done)
	// Output:
	// [127.0.0.1:7000]
	// [127.0.0.2:7000 127.0.0.3:7000]
	// <nil>
}

func ExampleExclude() {
	list := []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}
	fmt.Println(seeds.Exclude(list, "10.0.0.2:7000"))
	// Output: [10.0.0.1:7000 10.0.0.3:7000]
}

func ExampleParseNamePort() {
	fmt.Println(seeds.ParseNamePort("hearsay.ns.svc.cluster.local", 7000))
	fmt.Println(seeds.ParseNamePort("hearsay.ns.svc.cluster.local:7001", 7000))
	// Output:
	// hearsay.ns.svc.cluster.local 7000 <nil>
	// hearsay.ns.svc.cluster.local 7001 <nil>
}

// Example_agent shows how the agent turns its seed flags into one provider:
// --seeds, --seed-dns, --seed-srv and --seed-file each add a provider,
// --dns-server applies to all of them, and entries without a port get the
// node's gossip port.
func Example_agent() {
	srv, err := dnstest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.SetA("seeds.hearsay.test", "127.0.0.5")

	flags := struct{ seeds, seedDNS, seedSRV, dnsServer, seedFile string }{
		seeds:     "10.0.0.1,10.0.0.2:7001",
		seedDNS:   "seeds.hearsay.test",
		dnsServer: srv.Addr(),
	}
	const gossipPort = 7000
	dnsCfg := seeds.DefaultDNSConfig()
	dnsCfg.Server = flags.dnsServer // and Logger, for the agent's log

	providers, err := agentProviders(flags.seeds, flags.seedDNS, flags.seedSRV, flags.seedFile, gossipPort, dnsCfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := seeds.NewMulti(providers...)
	if err != nil {
		fmt.Println(err)
		return
	}
	list, err := p.Seeds(context.Background())
	fmt.Println(list, err)
	// Output: [10.0.0.1:7000 10.0.0.2:7001 127.0.0.5:7000] <nil>
}

// agentProviders builds one provider per seed flag that is set.
func agentProviders(static, dnsName, srvName, file string, port int, dnsCfg seeds.DNSConfig) ([]seeds.Provider, error) {
	var out []seeds.Provider
	if static != "" {
		p, err := seeds.NewStatic(strings.Split(static, ","), port, seeds.WithDNSConfig(dnsCfg))
		if err != nil {
			return nil, fmt.Errorf("--seeds: %w", err)
		}
		out = append(out, p)
	}
	if dnsName != "" {
		cfg := dnsCfg
		var err error
		if cfg.Name, cfg.Port, err = seeds.ParseNamePort(dnsName, port); err != nil {
			return nil, fmt.Errorf("--seed-dns: %w", err)
		}
		p, err := seeds.NewDNS(cfg)
		if err != nil {
			return nil, fmt.Errorf("--seed-dns: %w", err)
		}
		out = append(out, p)
	}
	if srvName != "" {
		cfg := dnsCfg
		cfg.Name, cfg.SRV = srvName, true
		p, err := seeds.NewDNS(cfg)
		if err != nil {
			return nil, fmt.Errorf("--seed-srv: %w", err)
		}
		out = append(out, p)
	}
	if file != "" {
		p, err := seeds.NewFile(file, port, seeds.WithDNSConfig(dnsCfg))
		if err != nil {
			return nil, fmt.Errorf("--seed-file: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}
