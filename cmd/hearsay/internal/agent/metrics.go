package agent

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hearsay-io/hearsay/gossiper"
)

// newRegistry returns the agent's own metrics registry: the gossiper's
// counters, read at every scrape, plus the Go runtime and process metrics.
func newRegistry(a *Agent) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range append(append(a.streamMetrics(), a.tlsMetrics()...),
		newCollector(a.g, a.sources),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// collector exports gossiper.Stats and the membership as Prometheus
// metrics, computed at scrape time.
type collector struct {
	g       *gossiper.Gossiper
	sources []seedSource

	members, phi, generation                            *prometheus.Desc
	rounds, convictions, restarts, truncated            *prometheus.Desc
	sent, received, sentBytes, receivedBytes, sizes     *prometheus.Desc
	dropped, sendErrors, eventsDropped                  *prometheus.Desc
	seedLookups, seedFailures, seedUpdates, seedsActive *prometheus.Desc
	hardening                                           []coreCounter

	// transport connections and answers (issue 11)
	refused, conns, connEvents, repliesLimited *prometheus.Desc
	// transport security (issue 12)
	credentialReloads *prometheus.Desc
	// echoes over datagrams (issue 10)
	datagrams, datagramDrops *prometheus.Desc
}

func newCollector(g *gossiper.Gossiper, sources []seedSource) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("hearsay_"+name, help, labels, nil)
	}
	return &collector{
		g: g, sources: sources,
		members:       d("members", "Known endpoints (the local node included) by status: up, down or left.", "status"),
		phi:           d("peer_phi", "Failure-detector phi of each peer (capped at 1000).", "endpoint"),
		generation:    d("generation", "Generation of the local node."),
		rounds:        d("gossip_rounds_total", "Gossip rounds run."),
		convictions:   d("convictions_total", "Peers convicted (marked down) by the failure detector."),
		restarts:      d("restarts_total", "Peers seen restarting with a higher generation."),
		truncated:     d("acks_truncated_total", "Acks, Ack2s and shadow-round Acks that left deltas for later rounds to fit the frame size limit."),
		sent:          d("messages_sent_total", "Messages sent, by type.", "type"),
		received:      d("messages_received_total", "Messages received, by type.", "type"),
		sentBytes:     d("message_bytes_sent_total", "Encoded bytes of messages sent, by type.", "type"),
		receivedBytes: d("message_bytes_received_total", "Encoded bytes of messages received, by type.", "type"),
		sizes:         d("message_size_bytes", "Sizes of the messages sent, by type.", "type"),
		dropped:       d("frames_dropped_total", "Frames dropped, by reason: the transport's reasons (decrypt: a sealed frame that does not open), decode_error, cluster_mismatch, rejected and identity (an envelope whose From the peer's TLS certificate does not name).", "reason"),
		sendErrors:    d("send_errors_total", "Messages that could not be encoded or queued."),
		eventsDropped: d("events_dropped_total", "Membership events lost to full subscriber buffers."),
		seedLookups:   d("seed_lookups_total", "Lookups made by the seed sources."),
		seedFailures:  d("seed_lookup_failures_total", "Seed lookups that gave no fresh answer."),
		seedUpdates:   d("seed_updates_total", "New seed lists handed to the gossiper."),
		seedsActive:   d("seeds", "Seed addresses in use."),
		hardening:     coreCounters(d),

		refused: d("transport_refused_connections_total",
			"Connections closed before they carried a frame, by reason: conn_limit, per_source, bad_handshake, version (a peer speaking another protocol version), handshake_timeout, closed_before_handshake; and with --keyring or --tls-*: security_mode (a peer in another mode), tls_handshake (no certificate, or one from another CA), bad_key (no key of the keyring opens its frames), peer_refused (the peer refused this node's connection).", "reason"),
		conns:      d("transport_connections", "Gossip connections open now (both directions; one per peer pair)."),
		connEvents: d("transport_connections_total", "Gossip connections by event: dialed, accepted (with a valid handshake), evicted (idle, to stay under the cap), resumed (a new connection that resumed an earlier one's codec session).", "event"),
		repliesLimited: d("replies_limited_total",
			"Requests left unanswered because their sender ID, or the connection they came on, had used its answer budget for the interval."),
		credentialReloads: d("transport_credential_reloads_total",
			"Times the keyring (--keyring) or the TLS files (--tls-*) were read again after a change on disk."),
		datagrams: d("transport_datagrams_total",
			"Echoes and echo replies by UDP datagram, by event: sent, received, fallback (an echo or a reply that went on TCP although datagrams are on).", "event"),
		datagramDrops: d("datagrams_dropped_total",
			"Received datagrams dropped, by reason: too_large, malformed, version, security_mode, decrypt, cluster, source (the envelope's address is not the source IP), type (not an echo or a reply), unsolicited (a reply to no outstanding echo: a replay or a forgery).", "reason"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.members, c.phi, c.generation, c.rounds, c.convictions,
		c.restarts, c.truncated, c.sent, c.received, c.sentBytes, c.receivedBytes, c.sizes, c.dropped,
		c.sendErrors, c.eventsDropped, c.seedLookups, c.seedFailures, c.seedUpdates, c.seedsActive,
		c.refused, c.conns, c.connEvents, c.repliesLimited, c.credentialReloads, c.datagrams, c.datagramDrops} {
		ch <- d
	}
	for _, h := range c.hardening {
		ch <- h.desc
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	c.collectMembers(gauge)
	s := c.g.Stats()
	counter(c.rounds, s.Core.Rounds)
	counter(c.convictions, s.Core.Convictions)
	counter(c.restarts, s.Core.Restarts)
	counter(c.truncated, s.Core.AcksTruncated)
	for _, h := range c.hardening {
		counter(h.desc, h.value(s.Core))
	}
	for _, t := range slices.Sorted(maps.Keys(s.Messages)) {
		m := s.Messages[t]
		counter(c.sent, m.Sent, t)
		counter(c.received, m.Received, t)
		counter(c.sentBytes, m.SentBytes, t)
		counter(c.receivedBytes, m.ReceivedBytes, t)
		ch <- sizeHistogram(c.sizes, m.Sizes, t)
	}
	drops := s.Transport.Drops()
	drops["decode_error"] = s.DecodeErrors
	drops["cluster_mismatch"] = s.Core.ClusterMismatch
	drops["rejected"] = s.Core.Rejected
	drops["identity"] = s.IdentityRefused
	for _, reason := range slices.Sorted(maps.Keys(drops)) {
		counter(c.dropped, drops[reason], reason)
	}
	refusals := s.Transport.Refusals()
	for _, reason := range slices.Sorted(maps.Keys(refusals)) {
		counter(c.refused, refusals[reason], reason)
	}
	gauge(c.conns, float64(s.Transport.OpenConns))
	counter(c.connEvents, s.Transport.DialedConns, "dialed")
	counter(c.connEvents, s.Transport.AcceptedConns, "accepted")
	counter(c.connEvents, s.Transport.EvictedConns, "evicted")
	counter(c.connEvents, s.Transport.ResumedConns, "resumed")
	counter(c.repliesLimited, s.Core.RepliesLimited)
	counter(c.credentialReloads, s.Transport.CredentialReloads)
	counter(c.datagrams, s.Transport.DatagramsSent, "sent")
	counter(c.datagrams, s.Transport.DatagramsReceived, "received")
	counter(c.datagrams, s.Transport.DatagramFallbacks, "fallback")
	dd := s.Transport.DatagramDrops.ByReason()
	for _, reason := range slices.Sorted(maps.Keys(dd)) {
		counter(c.datagramDrops, dd[reason], reason)
	}
	counter(c.sendErrors, s.SendErrors)
	counter(c.eventsDropped, s.EventsDropped)
	var lookups, failures uint64
	for _, src := range c.sources {
		st := src.Stats()
		lookups += st.Lookups
		failures += st.Failures
	}
	counter(c.seedLookups, lookups)
	counter(c.seedFailures, failures)
	counter(c.seedUpdates, s.SeedUpdates)
	gauge(c.seedsActive, float64(len(c.g.Seeds())))
}

func (c *collector) collectMembers(gauge func(*prometheus.Desc, float64, ...string)) {
	count := map[gossiper.Status]int{gossiper.StatusUp: 0, gossiper.StatusDown: 0, gossiper.StatusLeft: 0}
	for _, m := range c.g.Members() {
		count[m.Status]++
		if m.Self {
			gauge(c.generation, float64(m.Generation))
		} else {
			gauge(c.phi, m.Phi, m.ID)
		}
	}
	for _, st := range slices.Sorted(maps.Keys(count)) {
		gauge(c.members, float64(count[st]), string(st))
	}
}

// sizeHistogram converts a gossiper histogram (a count per bucket) into a
// Prometheus one (cumulative counts per upper bound).
func sizeHistogram(d *prometheus.Desc, h gossiper.Histogram, labels ...string) prometheus.Metric {
	bounds := gossiper.SizeBuckets()
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		buckets[float64(b)] = cum
	}
	if len(h.Counts) > len(bounds) {
		cum += h.Counts[len(bounds)]
	}
	return prometheus.MustNewConstHistogram(d, cum, float64(h.Sum), buckets, labels...)
}

// coreCounter is one of the core's protection and local-pause counters.
type coreCounter struct {
	desc  *prometheus.Desc
	value func(gossiper.Counters) uint64
}

// coreCounters describes the core's counters of refused input and of
// local stalls.
func coreCounters(d func(name, help string, labels ...string) *prometheus.Desc) []coreCounter {
	return []coreCounter{
		{d("deltas_refused_total", "Deltas refused for their endpoint alone (invalid, over the per-endpoint limits once merged, or a generation too far ahead) while the rest of their message applied."),
			func(c gossiper.Counters) uint64 { return c.DeltasRefused }},
		{d("endpoints_refused_total", "Deltas about new endpoints refused because the node already knows MaxEndpoints."),
			func(c gossiper.Counters) uint64 { return c.EndpointsRefused }},
		{d("generations_refused_total", "Far-future generations the node did not take when refuting or taking over (beyond the acceptance window)."),
			func(c gossiper.Counters) uint64 { return c.GenerationsRefused }},
		{d("local_pauses_total", "Gaps between the node's gossip rounds longer than the failure detector's MaxLocalPause (the process was stalled)."),
			func(c gossiper.Counters) uint64 { return c.LocalPauses }},
		{d("convictions_deferred_total", "Convictions deferred because the silence was the node's own stall (once per peer and pause)."),
			func(c gossiper.Counters) uint64 { return c.ConvictionsDeferred }},
		{d("pushes_deferred_total", "Flushes that found changes to push but waited for the push rate limit; the changes went out together later."),
			func(c gossiper.Counters) uint64 { return c.PushesDeferred }},
	}
}
