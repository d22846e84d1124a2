// Package failuredetector is hearsay's phi-accrual failure detector: it turns
// the arrival times of gossiped heartbeats into a suspicion level, phi, per
// endpoint, and decides when a peer should be convicted (marked down).
//
// # Its part in the protocol
//
// Every node gossips a heartbeat version that it bumps once per gossip round.
// When the gossiper applies a newer heartbeat version for an endpoint, from
// whichever peer it learned it, it calls [Detector.Report] with the time of
// that moment. Once per round it calls [Detector.Interpret] for every live
// endpoint and marks down those for which it returns true. [Detector.Phi]
// and [Detector.Snapshot] are for display and metrics. This is the division
// of labour of Cassandra's FailureDetector and Gossiper.
//
// The package is pure: it starts no goroutines, reads no clock, does no I/O
// and does not log. Every instant is an argument, so the gossip loop passes
// its monotonic clock and the simulator passes virtual time, and the same
// calls always give the same results, bit for bit. The window statistics and
// the Exponential phi are bit-identical across architectures too; Normal and
// Akka go through math.Exp, math.Log and math.Erfc, whose last bits may
// differ between architectures.
//
// # Accrual detection
//
// Instead of a yes/no answer, an accrual detector reports how unlikely the
// current silence is given the intervals seen so far (Hayashibara, Défago,
// Yared and Katayama, "The φ Accrual Failure Detector", SRDS 2004):
//
//	phi(t) = −log10(P(an interval is longer than t))
//
// where t is the time since the last heartbeat. Under the model, convicting
// at threshold Φ is wrong with a probability of about 10^−Φ. The interval
// statistics are kept per endpoint as an exponentially weighted mean and
// variance of span [Config.WindowSize] ([Decaying], the default, 40 bytes
// per endpoint), or in an [ArrivalWindow] of the most recent WindowSize
// intervals with exact running statistics ([Sliding]).
//
// # The three models
//
// [Exponential] (default) is Cassandra's model. Intervals are assumed
// exponentially distributed, so
//
//	phi = t / mean / ln 10
//
// and an endpoint is convicted after threshold · ln 10 mean intervals of
// silence (18.4 at threshold 8). The first heartbeat seeds the window with
// [Config.InitialInterval] (2 s by default); later intervals longer than
// [Config.MaxInterval] (2 s) are not learned. Cassandra users keep their
// phi_convict_threshold unchanged.
//
// [Normal] is the original model of Hayashibara et al. Intervals are assumed
// normally distributed with mean μ′ = mean + [Config.AcceptablePause] and
// standard deviation σ′ = max(σ, [Config.MinStdDev]), and phi is −log10 of
// the exact normal survival function at t (gonum's distuv, with a
// log-survival expansion in the far tail so that phi stays finite).
//
// [Akka] is Akka's PhiAccrualFailureDetector: the same μ′ and σ′, with the
// normal tail replaced by Akka's logistic approximation, so that Akka
// thresholds keep their meaning. With y = (t − μ′)/σ′ and
// e = exp(−y(1.5976 + 0.070566y²)), phi = −log10(e/(1 + e)).
//
// Normal and Akka learn as Akka does: the first heartbeat installs a
// bootstrap history of two intervals, m − m/4 and m + m/4, with
// m = InitialInterval/2 (the gossip interval under [DefaultConfigFor]), and
// a later interval is learned only if the endpoint was still available (phi
// below the threshold) when the heartbeat arrived. Variance is the
// population variance. MaxInterval does not apply to them.
//
// docs/failure-detection.md compares the models side by side, with a table
// of the time to conviction for common thresholds.
//
// # The local-pause guard
//
// If the local process stops for a while (a long GC pause, a suspended VM),
// every peer looks silent when it resumes. [Detector.Tick], called every
// round (and by [Detector.Interpret]), remembers when it was last called;
// if more than [Config.MaxLocalPause] (5 s) passed since then, the gap's
// excess over MaxLocalPause is discounted from the silence of every peer
// not heard during it. Unlike Cassandra's guard, which convicts nobody for
// MaxLocalPause after a pause and never convicts while pauses recur, this
// bounds the delay: each gap still counts MaxLocalPause of silence, so a
// dead peer is convicted however often the process stalls.
// [Detector.PauseStats] counts pauses and deferred convictions.
//
// # Checking many endpoints each round
//
// A gossip round checks every endpoint. [Detector.Overdue] lists the
// endpoints whose phi may be over the threshold without evaluating phi for
// the others: each endpoint keeps the silence up to which its phi is surely
// below the threshold (a margin of a millionth below the exact crossing),
// recomputed when its window changes, so the scan is one comparison per
// endpoint, and [Detector.Interpret] is needed only for those it lists.
//
// # Edge cases
//
// A report at or before an endpoint's last arrival is ignored. Phi is 0 for
// an unknown endpoint, never NaN or negative, and may be +Inf;
// [Detector.Snapshot] and [ClampPhi] cap it at [MaxPhi] for anything that
// leaves the process. A [Detector] is not safe for concurrent use: the gossip
// loop owns it.
package failuredetector
