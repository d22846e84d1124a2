package simplot

import "math"

// PushPull returns the mean-field prediction of the fraction of n nodes
// that know an update k rounds after one node learnt it, for k = 0..rounds,
// when every node starts fanout push-pull exchanges with random peers each
// round (digest rounds alone, no push-on-change).
//
// The formula is the deterministic (mean-field) recurrence of Demers et
// al., "Epidemic algorithms for replicated database maintenance" (PODC
// 1987, section 1.4: pull p' = p², push p' = p·e^{-1} near the end), and of
// Karp, Schindelhauer, Shenker and Vöcking, "Randomized rumor spreading"
// (FOCS 2000), combined for push-pull with fanout f. An uninformed node
// stays uninformed in a round only if none of its own f exchanges reaches
// an informed node (probability (1−x)^f) and no informed node's exchange
// reaches it (the number of those is close to Poisson with mean f·x, so
// probability e^{−f·x}):
//
//	x₀ = 1/n,   x_{k+1} = 1 − (1 − x_k)^{1+f} · e^{−f·x_k}
//
// With f = 1 that is x_{k+1} = 1 − (1 − x_k)²·e^{−x_k}. The curve is a mean:
// it ignores the randomness of small numbers at the start and the end, so
// a real run finishes a round or two after the curve reaches 1 − 1/n.
func PushPull(n, fanout, rounds int) []float64 {
	if n < 1 || rounds < 0 {
		return nil
	}
	f := float64(max(fanout, 1))
	x := 1 / float64(n)
	out := make([]float64, 0, rounds+1)
	out = append(out, x)
	for range rounds {
		u := 1 - x
		x = 1 - math.Pow(u, 1+f)*math.Exp(-f*x)
		out = append(out, x)
	}
	return out
}

// RoundsToAll returns the first k at which the curve c says fewer than one
// node of n is still uninformed (c[k] > 1 − 1/n), or −1 if it never does.
func RoundsToAll(c []float64, n int) int {
	for k, x := range c {
		if (1-x)*float64(n) < 1 {
			return k
		}
	}
	return -1
}

// PushPullAsync is PushPull for nodes whose rounds are not in step: each
// node gossips once an interval at its own phase, as the simulator's and a
// real cluster's nodes do, so news may cross several hops within one
// interval. Treating each node's fanout exchanges per interval as a Poisson
// process of rate f, an uninformed node learns the update at rate f·x
// through its own exchanges and f·x through the informed nodes' exchanges,
// which is the logistic (SI epidemic) equation
//
//	dx/dt = 2f · x · (1 − x),   x(0) = 1/n,   so   x(t) = 1 / (1 + (n − 1)·e^{−2f·t})
//
// (Bailey, "The Mathematical Theory of Infectious Diseases", 1975, the
// simple epidemic; Boyd, Ghosh, Prabhakar and Shah, "Randomized gossip
// algorithms", 2006, for the asynchronous time model). It returns x at
// t = 0..rounds intervals. A fixed phase is more regular than a Poisson
// clock, so a run sits between this curve and PushPull's.
func PushPullAsync(n, fanout, rounds int) []float64 {
	if n < 1 || rounds < 0 {
		return nil
	}
	f := float64(max(fanout, 1))
	out := make([]float64, rounds+1)
	for k := range out {
		out[k] = 1 / (1 + float64(n-1)*math.Exp(-2*f*float64(k)))
	}
	return out
}
