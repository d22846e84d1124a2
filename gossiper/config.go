package gossiper

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/seeds"
)

// Config configures a [Gossiper]: its core [NodeConfig], embedded (so
// cfg.Interval and the like work as fields of Config), and the runtime's
// own fields (addresses, transport, seed provider, generation, logs,
// randomness). Start from [DefaultConfig]; set at least ID (and Seeds or
// SeedProvider to join a cluster).
type Config struct {
	NodeConfig
	// BindAddr is the TCP address to listen on for gossip. Default
	// "127.0.0.1:7000"; port 0 picks a free port.
	BindAddr string
	// AdvertiseAddr is the address peers reach this node at. Default: the
	// address actually bound (which must then not be 0.0.0.0 or ::).
	AdvertiseAddr string
	// SeedProvider, when set, is asked for seeds in the background every
	// SeedRefreshInterval; its answers replace Seeds.
	SeedProvider seeds.Provider
	// SeedRefreshInterval is how often SeedProvider is asked. Default 30s.
	SeedRefreshInterval time.Duration
	// Generation is this incarnation's generation. Default 0: wall-clock
	// seconds at start, or one more than the last generation this process
	// gave the same ID if that is not below them (so an in-process restart
	// within one second still takes a higher generation), or, with
	// GenerationFile, one more than the last persisted value if the clock
	// went back.
	Generation int64
	// GenerationFile, when set, persists the generation so it strictly
	// increases across restarts even if the clock goes back.
	GenerationFile string
	// EventBuffer is each subscription's channel capacity; events that do
	// not fit are dropped and counted. Default 1024.
	EventBuffer int
	// Logger receives the runtime's logs. Default: disabled.
	Logger zerolog.Logger
	// Transport, when set, is used instead of a TCP transport on BindAddr
	// (tests use messaging.MemNetwork). The Gossiper closes it on Stop.
	Transport messaging.Transport
	// RandSeed seeds peer selection. Default 0: a random seed.
	RandSeed uint64
	// TCP tunes the built-in TCP transport (queue sizes, timeouts,
	// connection caps) and its security (TCP.Security: a keyring or mutual
	// TLS, see docs/security.md); it is validated with the rest and unused
	// when Transport is set. Its BindAddr, MaxFrameSize and Logger are
	// ignored: the transport takes Config's; an empty Security.Cluster
	// takes ClusterName. Default messaging.DefaultTCPConfig(); a zero field
	// takes its default.
	TCP messaging.TCPConfig
}

// DefaultConfig returns a safe configuration for a 1 s interval on
// loopback: [DefaultNodeConfig] and the runtime's defaults. ID must still
// be set.
func DefaultConfig() Config {
	return Config{
		NodeConfig:          DefaultNodeConfig(),
		BindAddr:            "127.0.0.1:7000",
		SeedRefreshInterval: 30 * time.Second,
		EventBuffer:         1024,
		Logger:              zerolog.Nop(),
		TCP:                 messaging.DefaultTCPConfig(),
	}
}

// Validate reports every field out of range, the core's (see
// [NodeConfig.Validate]) and the runtime's, without changing c.
func (c Config) Validate() error {
	errs := []error{c.NodeConfig.ValidateFor(c.AdvertiseAddr + c.BindAddr)}
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	if c.Transport == nil {
		if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
			bad("BindAddr %q: %v", c.BindAddr, err)
		} else if err := c.tcpConfig().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("config: TCP: %w", err))
		}
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
			bad("AdvertiseAddr %q: %v", c.AdvertiseAddr, err)
		}
	}
	if c.SeedProvider != nil && c.SeedRefreshInterval <= 0 {
		bad("SeedRefreshInterval %v: want > 0", c.SeedRefreshInterval)
	}
	if c.Generation < 0 {
		bad("Generation %d: want >= 0", c.Generation)
	}
	if c.EventBuffer < 1 {
		bad("EventBuffer %d: want >= 1", c.EventBuffer)
	}
	return errors.Join(errs...)
}

// tcpConfig returns the built-in transport's configuration: TCP with
// Config's BindAddr and MaxFrameSize.
func (c Config) tcpConfig() messaging.TCPConfig {
	t := c.TCP
	t.BindAddr, t.MaxFrameSize = c.BindAddr, c.MaxFrameSize
	if t.Security.Cluster == "" {
		t.Security.Cluster = c.ClusterName
	}
	if t.Security.ID == "" {
		t.Security.ID = c.ID
	}
	return t
}
