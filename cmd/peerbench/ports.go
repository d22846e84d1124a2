package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
)

// portPicker hands out loopback ports below the kernel's ephemeral range.
// A port from the ephemeral range, freed by a crash, is soon taken again
// as the source port of some outgoing connection (of this process or of
// any other on the machine), and the restarted node could not bind it;
// ports below the range are only ever taken by an explicit bind.
type portPicker struct {
	mu     sync.Mutex
	lo, hi int // candidates: [lo, hi)
	next   int
	given  map[int]bool
}

// newPortPicker picks from 20000 up to the start of the ephemeral range
// (net.ipv4.ip_local_port_range), starting at a random place so that
// concurrent runs rarely meet. Where that range is unknown or too low it
// returns nil: the systems then bind port 0.
func newPortPicker() *portPicker {
	lo, hi := 20000, 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var first, last int
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &first, &last); err == nil {
			hi = first
		}
	}
	if hi-lo < 2000 {
		return nil
	}
	return &portPicker{lo: lo, hi: hi, next: lo + rand.IntN(hi-lo), given: map[int]bool{}}
}

// pick returns a port that was free for TCP and UDP on 127.0.0.1 a moment
// ago and that this picker has not handed out before; 0 if p is nil or
// no such port was found.
func (p *portPicker) pick() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 1000 {
		port := p.next
		p.next++
		if p.next >= p.hi {
			p.next = p.lo
		}
		if p.given[port] || !portFree(port) {
			continue
		}
		p.given[port] = true
		return port
	}
	return 0
}

func portFree(port int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

// addrInUse reports whether a start failed because its port was taken.
func addrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}
