package endpointstate

// Digest summarises what a node knows of one endpoint: its generation and
// the highest version seen. A SYN carries the digests of everything the
// sender knows; in an ACK, a digest is a request for every version above
// MaxVersion (0: everything).
type Digest struct {
	// Endpoint is the node ID the digest is about.
	Endpoint string
	// Generation is the endpoint's generation as known by the sender.
	Generation int64
	// MaxVersion is the highest version known (in a request: the version
	// above which states are wanted).
	MaxVersion int64
}

// Msgpack size bounds: the most bytes any msgpack encoding of a value of
// each kind takes, used to keep messages under the frame limit without
// encoding them twice.
const (
	// intBound is the largest msgpack encoding of an int64.
	intBound = 9
	// strOverhead is the largest msgpack string header.
	strOverhead = 5
	// arrayOverhead is the largest msgpack array header.
	arrayOverhead = 5
	// boolBound is a msgpack bool.
	boolBound = 1
)

// SizeBound returns an upper bound on the encoded size of d in bytes.
func (d Digest) SizeBound() int {
	return arrayOverhead + strOverhead + len(d.Endpoint) + 2*intBound
}
