// Package agent is the "hearsay agent" subcommand: a gossip node built from
// flags and a configuration file, with an admin HTTP API (JSON, server-sent
// events, Prometheus metrics). It holds no protocol logic: it wires a
// [gossiper.Gossiper] to its configuration, its seed sources and HTTP.
package agent

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hearsay-io/hearsay/gossiper"
)

// Agent is a gossip node with its admin HTTP API. Build it with New, then
// Run it (or Start and Stop it). Its methods are safe for concurrent use.
type Agent struct {
	opts    Options
	log     zerolog.Logger
	cfg     gossiper.Config
	sources []seedSource

	// Set by Start before the API serves, then only read.
	g        *gossiper.Gossiper
	registry *prometheus.Registry
	ln       net.Listener // nil when the API is disabled
	certs    *certFiles   // the HTTPS certificate; nil for plain HTTP
	srv      *http.Server
	served   chan error // receives Serve's error once

	running   atomic.Bool   // the gossiper runs: /healthz answers ok
	stopping  chan struct{} // closed when the agent begins to stop
	stopOnce  sync.Once
	left      chan struct{} // closed once POST /v1/leave has left
	leaveOnce sync.Once

	// Event streams: their timing, how many are open, how many were
	// refused for going over Options.MaxEventStreams.
	keepAlive, writeTimeout time.Duration
	streams                 atomic.Int64
	streamsRefused          atomic.Uint64

	persistMu sync.Mutex // orders the saves of the node's own states
}

// New checks the options and returns an agent ready to Start. Errors are
// *UsageError.
func New(o Options, log zerolog.Logger) (*Agent, error) {
	states, err := initialStates(o.DataDir, o.States)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	o.States = states
	cfg, sources, err := o.gossiperConfig(log)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = crand.Read(b[:])
	cfg.RandSeed = binary.LittleEndian.Uint64(b[:]) | 1
	a := &Agent{
		opts: o, log: log, cfg: cfg, sources: sources,
		stopping: make(chan struct{}), left: make(chan struct{}),
		keepAlive: o.keepAlive, writeTimeout: o.writeTimeout,
	}
	if a.keepAlive <= 0 {
		a.keepAlive = defaultKeepAlive
	}
	if a.writeTimeout <= 0 {
		a.writeTimeout = defaultWriteTimeout
	}
	if o.HTTPTLSCert != "" {
		every := o.certCheckEvery
		if every <= 0 {
			every = certCheckInterval
		}
		a.certs, err = loadCertFiles(o.HTTPTLSCert, o.HTTPTLSKey, every, log.With().Str("component", "http").Logger())
		if err != nil {
			return nil, &UsageError{Err: err}
		}
	}
	return a, nil
}

// Run starts the agent, runs it until ctx ends (SIGINT or SIGTERM in the
// binary) or a client makes it leave, then stops it gracefully: peers are
// told at once that the node is down.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		if ctx.Err() != nil {
			a.log.Info().Msg("interrupted while starting")
			return nil
		}
		return err
	}
	var err error
	select {
	case <-ctx.Done():
		a.log.Info().Msg("shutting down")
	case <-a.left:
		a.log.Info().Msg("left the cluster, exiting")
	case err = <-a.served:
		err = fmt.Errorf("admin API: %w", err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(err, a.Stop(stopCtx))
}

// Start binds the admin API and starts the gossiper (which asks the seed
// sources once for its shadow round); it returns once the node gossips. The API answers (with 503 from
// /healthz) while the gossiper runs its shadow round.
func (a *Agent) Start(ctx context.Context) error {
	if a.opts.HTTP != "" {
		if a.opts.HTTPToken == "" && !isLoopback(a.opts.HTTP) {
			a.log.Warn().Str("http", a.opts.HTTP).Msg("the admin API is reachable from the network without --http-token")
		}
		if a.certs == nil && !isLoopback(a.opts.HTTP) {
			a.log.Warn().Str("http", a.opts.HTTP).Msg("the admin API is reachable from the network over plain HTTP; its token and answers travel in clear (set --http-tls-cert and --http-tls-key)")
		}
		ln, err := net.Listen("tcp", a.opts.HTTP)
		if err != nil {
			return fmt.Errorf("admin API: %w", err)
		}
		a.ln = ln
	}
	g, err := gossiper.New(a.cfg)
	if err != nil {
		a.closeListener()
		return err
	}
	a.g = g
	reg, err := newRegistry(a)
	if err != nil {
		a.closeListener()
		return err
	}
	a.registry = reg
	a.serve()
	a.log.Info().Uint64("rand_seed", a.cfg.RandSeed).Int("seed_sources", len(a.sources)).
		Str("data_dir", a.opts.DataDir).Msg("starting")
	if err := g.Start(ctx); err != nil {
		a.shutdownHTTP(context.Background())
		return err
	}
	a.running.Store(true)
	m, _ := g.Member(g.LocalID())
	a.log.Info().Str("gossip", g.Addr()).Str("http", a.HTTPAddr()).Bool("https", a.certs != nil).Int64("generation", m.Generation).
		Msg("agent ready")
	return nil
}

func (a *Agent) serve() {
	a.served = make(chan error, 1)
	if a.ln == nil {
		return
	}
	a.srv = &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          log.New(newHTTPErrorLog(a.log.With().Str("component", "http").Logger()), "", 0),
	}
	serve := a.srv.Serve
	if a.certs != nil {
		// The TLS handshake is bounded by ReadHeaderTimeout.
		a.srv.TLSConfig = a.certs.tlsConfig()
		serve = func(ln net.Listener) error { return a.srv.ServeTLS(ln, "", "") }
	}
	go func() {
		if err := serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
			a.served <- err
		}
	}()
}

func (a *Agent) closeListener() {
	if a.ln != nil {
		a.ln.Close()
	}
}

// HTTPAddr returns the address the admin API listens on ("" when
// disabled).
func (a *Agent) HTTPAddr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Gossiper returns the agent's gossiper (nil before Start).
func (a *Agent) Gossiper() *gossiper.Gossiper { return a.g }

// Stop announces the shutdown to the cluster, stops the gossiper, ends the
// event streams and shuts the API down. It is idempotent; ctx bounds it.
func (a *Agent) Stop(ctx context.Context) error {
	a.beginStop()
	var err error
	if a.g != nil {
		err = a.g.Stop(ctx)
	}
	a.shutdownHTTP(ctx)
	return err
}

func (a *Agent) beginStop() {
	a.stopOnce.Do(func() {
		a.running.Store(false)
		close(a.stopping)
	})
}

func (a *Agent) shutdownHTTP(ctx context.Context) {
	a.beginStop()
	if a.srv == nil {
		a.closeListener()
		return
	}
	if err := a.srv.Shutdown(ctx); err != nil {
		a.log.Warn().Err(err).Msg("admin API shutdown")
		a.srv.Close()
	}
}

// leaveCluster announces that the node leaves for good, stops the
// gossiper, and tells Run to exit.
func (a *Agent) leaveCluster(ctx context.Context) error {
	a.running.Store(false)
	err := a.g.Leave(ctx)
	a.leaveOnce.Do(func() { close(a.left) })
	return err
}
