package core

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearsay-io/hearsay/messaging"
)

// TestAnswersRateLimitedPerSender: at most replyBurst answers per sender ID
// per interval, counted; the next interval answers again, and other
// senders are not affected.
func TestAnswersRateLimitedPerSender(t *testing.T) {
	cfg := coreConfig("n1")
	n, err := NewNode(cfg, "10.0.0.1:7000", 1, nil)
	require.NoError(t, err)
	n.Start(epoch)
	synFrom := func(id string) *messaging.Envelope {
		return &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: cfg.ClusterName,
			From: id, Addr: "10.9.9.9:7000", Message: &messaging.Syn{}}
	}
	answers := func(now time.Time, id string, k int) int {
		got := 0
		for range k {
			for _, m := range n.Step(now, synFrom(id)).Messages {
				assert.True(t, m.Reply, "an Ack answers on the SYN's channel")
				assert.Equal(t, messaging.TypeAck, m.Message.Type())
				got++
			}
		}
		return got
	}
	assert.Equal(t, replyBurst, answers(epoch, "flooder", 100))
	assert.EqualValues(t, 100-replyBurst, n.Counters().RepliesLimited)
	assert.Equal(t, 1, answers(epoch.Add(time.Millisecond), "honest", 1), "other senders keep their budget")
	assert.Equal(t, replyBurst, answers(epoch.Add(cfg.Interval), "flooder", 100), "a new interval, a new budget")
}

// TestAnswersRateLimitedPerSource: a peer forging a new sender ID for
// every SYN on one connection gets at most replyBurst answers per interval;
// another connection keeps its own budget, and so does a message stepped
// without a source.
func TestAnswersRateLimitedPerSource(t *testing.T) {
	cfg := coreConfig("n1")
	n, err := NewNode(cfg, "10.0.0.1:7000", 1, nil)
	require.NoError(t, err)
	n.Start(epoch)
	rotating := 0
	answers := func(now time.Time, source string, k int) int {
		got := 0
		for range k {
			rotating++
			env := &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: cfg.ClusterName,
				From: fmt.Sprintf("forged-%d", rotating), Addr: "10.9.9.9:7000", Message: &messaging.Syn{}}
			got += len(n.StepFrom(now, source, env).Messages)
		}
		return got
	}
	assert.Equal(t, replyBurst, answers(epoch, "10.9.9.9:40001", 100), "one connection, a new ID per SYN")
	assert.EqualValues(t, 100-replyBurst, n.Counters().RepliesLimited)
	assert.Equal(t, 1, answers(epoch, "10.9.9.9:40002", 1), "another connection keeps its budget")
	assert.Equal(t, replyBurst, answers(epoch.Add(cfg.Interval), "10.9.9.9:40001", 100), "a new interval, a new budget")
	assert.Equal(t, 3, answers(epoch, "", 3), "no source: budgeted per ID only")
}

// TestRepliesAreMarked: every answer to a request is sent back on the
// request's channel; messages a node starts are not.
func TestRepliesAreMarked(t *testing.T) {
	n, err := NewNode(coreConfig("n1"), "10.0.0.1:7000", 1, nil)
	require.NoError(t, err)
	n.Start(epoch)
	env := func(m messaging.Message) *messaging.Envelope {
		return &messaging.Envelope{Version: messaging.ProtocolVersion, Cluster: "hearsay", From: "p", Addr: "10.0.0.2:7000", Message: m}
	}
	for _, req := range []messaging.Message{&messaging.Syn{}, &messaging.Ack{}, &messaging.Echo{Nonce: 1}, &messaging.ShadowSyn{}} {
		out := n.Step(epoch, env(req))
		require.NotEmpty(t, out.Messages, "%s is answered", req.Type())
		for _, m := range out.Messages {
			if m.Message.Type() != messaging.TypeEcho { // an echo to a peer thought down is not an answer
				assert.True(t, m.Reply, "answer %s to %s", m.Message.Type(), req.Type())
			}
		}
	}
}
