package failuredetector

import (
	"fmt"
	"strconv"
	"strings"
)

// Model selects how the detector turns the time since the last heartbeat into
// phi, and how it learns intervals. See the package documentation for the
// formulas.
type Model int

const (
	// Exponential is Cassandra's model and the default: phi = t / mean / ln 10,
	// the −log10 of the tail of an exponential distribution. The first
	// heartbeat seeds the window with Config.InitialInterval, and intervals
	// longer than Config.MaxInterval are not learned.
	Exponential Model = iota

	// Normal is the model of Hayashibara et al.: phi is −log10 of the exact
	// survival function of a normal distribution with mean
	// mean + Config.AcceptablePause and standard deviation
	// max(stddev, Config.MinStdDev). It learns intervals as Akka does.
	Normal

	// Akka is Akka's PhiAccrualFailureDetector: the same distribution as
	// Normal, with the normal tail replaced by Akka's logistic
	// approximation, so that Akka thresholds keep their meaning.
	Akka
)

// String returns "exponential", "normal" or "akka", or "Model(n)" for a value
// that is not a defined Model.
func (m Model) String() string {
	switch m {
	case Exponential:
		return "exponential"
	case Normal:
		return "normal"
	case Akka:
		return "akka"
	default:
		return "Model(" + strconv.Itoa(int(m)) + ")"
	}
}

// valid reports whether m is one of the defined models.
func (m Model) valid() bool {
	return m >= Exponential && m <= Akka
}

// ParseModel returns the Model named s: "exponential", "normal" or "akka",
// in any letter case, with surrounding spaces ignored.
func ParseModel(s string) (Model, error) {
	name := strings.TrimSpace(s)
	for m := Exponential; m <= Akka; m++ {
		if strings.EqualFold(name, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("failuredetector: unknown model %q (want exponential, normal or akka)", s)
}

// MarshalText implements encoding.TextMarshaler with the name String
// returns. It fails for a value that is not a defined Model.
func (m Model) MarshalText() ([]byte, error) {
	if !m.valid() {
		return nil, fmt.Errorf("failuredetector: cannot marshal undefined %s", m)
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseModel, so a
// Model can be a flag (flag.TextVar) or a field of a configuration file.
func (m *Model) UnmarshalText(text []byte) error {
	parsed, err := ParseModel(string(text))
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}
