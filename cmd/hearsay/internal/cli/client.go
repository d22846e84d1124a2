// Package cli holds the client subcommands of hearsay (members, info, set,
// delete, watch, join, leave, remove, assassinate): each talks to one
// agent's admin HTTP API, over HTTP or HTTPS, and prints what it answers.
// It also holds "hearsay keygen", which talks to nobody.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hearsay-io/hearsay/cmd/hearsay/internal/api"
	"github.com/hearsay-io/hearsay/gossiper"
)

// Client calls one agent's admin API. It is safe for concurrent use.
type Client struct {
	base   string // "http://host:port" or "https://host:port"
	token  string
	caFile string // --http-ca, "" for the system's roots
	hc     *http.Client
}

// NewClient returns a client for the agent at addr ("host:port" or an
// http:// or https:// URL), sending token as a bearer token when set.
// timeout bounds each request but event streams (0: none). With caFile
// (PEM certificates), an https:// agent is trusted only if that CA signed
// its certificate, and a bare host:port means https; without it, the
// system's roots are trusted.
func NewClient(addr, token string, timeout time.Duration, caFile string) (*Client, error) {
	base := addr
	if !strings.Contains(addr, "://") {
		base = "http://" + addr
		if caFile != "" {
			base = "https://" + addr
		}
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid agent address %q: want host:port, http://host:port or https://host:port", addr)
	}
	c := &Client{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{Timeout: timeout}}
	if caFile != "" {
		if u.Scheme != "https" {
			return nil, fmt.Errorf("--http-ca %s is for an agent that serves HTTPS, but the address is %q: use https://%s", caFile, addr, u.Host)
		}
		pool, err := LoadCA(caFile)
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		c.hc.Transport = tr
		c.caFile = caFile
	}
	return c, nil
}

// maxCAFile bounds the --http-ca file: a wrong path fails at once.
const maxCAFile = 1 << 20

// LoadCA reads a PEM file of CA certificates (--http-ca) into a pool. A
// file that cannot be read or holds no certificate is an error naming it.
func LoadCA(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--http-ca: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("--http-ca %s: %w", path, err)
	case len(b) > maxCAFile:
		return nil, fmt.Errorf("--http-ca %s: larger than 1 MiB; is it the right file?", path)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--http-ca %s: no PEM certificate in the file (want the CA's certificate, -----BEGIN CERTIFICATE-----)", path)
	}
	return pool, nil
}

// APIError is an error answer from the agent.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the agent's {"error": ...} message, or the body.
	Message string
}

// Error returns "<status> <text>: <message>", the message quoted if it
// holds control characters.
func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), showValue(e.Message))
}

// do sends a request and decodes a 2xx JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	resp, err := c.send(ctx, c.hc, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns a 2xx response, or an error (an
// *APIError for an error answer).
func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		err = unwrapURLError(err)
		return nil, fmt.Errorf("cannot reach the agent at %s: %w%s", c.base, err, c.tlsHint(err))
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e api.Error
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if resp.StatusCode == http.StatusBadRequest && strings.HasPrefix(c.base, "http://") &&
		strings.Contains(msg, "HTTP request to an HTTPS server") {
		return nil, fmt.Errorf("the agent at %s serves HTTPS: use --http https://%s (with --http-ca FILE if its CA is not among the system's roots)",
			c.base, strings.TrimPrefix(c.base, "http://"))
	}
	return nil, &APIError{Status: resp.StatusCode, Message: msg}
}

// tlsHint returns what to do about a TLS failure, "" for other errors.
func (c *Client) tlsHint(err error) string {
	host := strings.TrimPrefix(c.base, "https://")
	switch {
	case errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Sprintf(" (the agent serves plain HTTP: use --http http://%s)", host)
	case isType[x509.UnknownAuthorityError](err):
		if c.caFile != "" {
			return fmt.Sprintf(" (the CA in --http-ca %s did not sign the agent's certificate: pass the CA that did)", c.caFile)
		}
		return " (the system's roots do not trust the agent's certificate: pass the CA that signed it with --http-ca FILE)"
	case isType[x509.HostnameError](err):
		return " (connect with a name or address the agent's certificate holds, or give the agent a certificate for this one)"
	}
	return ""
}

// isType reports whether err's chain holds an error of type E.
func isType[E error](err error) bool {
	_, ok := errors.AsType[E](err)
	return ok
}

func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// Members returns every endpoint the agent knows.
func (c *Client) Members(ctx context.Context) ([]gossiper.Member, error) {
	var ms []gossiper.Member
	return ms, c.do(ctx, http.MethodGet, api.PathMembers, nil, &ms)
}

// Set sets key to value on the agent's node.
func (c *Client) Set(ctx context.Context, key, value string) (api.State, error) {
	var s api.State
	return s, c.do(ctx, http.MethodPut, api.PathState+url.PathEscape(key), strings.NewReader(value), &s)
}

// Delete deletes key on the agent's node.
func (c *Client) Delete(ctx context.Context, key string) error {
	return c.do(ctx, http.MethodDelete, api.PathState+url.PathEscape(key), nil, nil)
}

// Leave makes the agent leave the cluster and exit.
func (c *Client) Leave(ctx context.Context) (api.Left, error) {
	var l api.Left
	return l, c.do(ctx, http.MethodPost, api.PathLeave, nil, &l)
}

// Remove announces a down member as left (removenode).
func (c *Client) Remove(ctx context.Context, id string) (api.Left, error) {
	return c.memberAction(ctx, id, api.ActionRemove)
}

// Assassinate forces a member out of the cluster, alive or not.
func (c *Client) Assassinate(ctx context.Context, id string) (api.Left, error) {
	return c.memberAction(ctx, id, api.ActionAssassinate)
}

func (c *Client) memberAction(ctx context.Context, id, action string) (api.Left, error) {
	var l api.Left
	return l, c.do(ctx, http.MethodPost, api.PathMembers+"/"+url.PathEscape(id)+"/"+action, nil, &l)
}

// Events follows the agent's event stream (kinds: "" for all, or a comma
// list), calling fn for each event until ctx ends (nil error) or the
// stream does (an error).
func (c *Client) Events(ctx context.Context, kinds string, fn func(api.Event)) error {
	path := api.PathEvents
	if kinds != "" {
		path += "?kinds=" + url.QueryEscape(kinds)
	}
	resp, err := c.send(ctx, &http.Client{Transport: c.hc.Transport}, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = ReadEvents(resp.Body, func(name string, data []byte) error {
		var e api.Event
		if err := json.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("event %q: %w", name, err)
		}
		fn(e)
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("the agent closed the event stream")
	}
	return err
}
