package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
)

// Join asks the agent's node to contact addrs at once (POST /v1/join).
func (c *Client) Join(ctx context.Context, addrs []string) (api.Joined, error) {
	var j api.Joined
	body, err := json.Marshal(api.JoinRequest{Addrs: addrs})
	if err != nil {
		return j, err
	}
	return j, c.do(ctx, http.MethodPost, api.PathJoin, bytes.NewReader(body), &j)
}

func runJoin(ctx context.Context, c *Client, args []string, _ options, env Env) error {
	j, err := c.Join(ctx, args)
	if err == nil {
		fmt.Fprintf(env.Stdout, "joined: %d of the contacted addresses answered\n", j.Answered)
	}
	return err
}
