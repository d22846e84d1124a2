package cli

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
)

// KeySize is the size of a keyring key: 32 bytes, for AES-256-GCM.
const KeySize = 32

// keygenHelp describes the command and the keyring file it feeds.
const keygenHelp = `Usage: hearsay keygen

Prints a new keyring key on one line: the standard base64 (with padding)
of 32 random bytes from the operating system's secure generator.

A keyring file (hearsay agent --keyring FILE) holds one such key a line.
The first key is the primary: the node encrypts with it. Every key in the
file is accepted from peers. Lines starting with # and blank lines are
ignored. The file is read again when it changes, so a key is rotated in
three steps, each applied on every node: add the new key as a second line;
move it to the first line; remove the old key.

  (umask 077; hearsay keygen > keyring)
`

// Keygen runs "hearsay keygen" with args (none are taken) and returns the
// exit status: 0 after printing a key to stdout, 2 for bad usage.
func Keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hearsay keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keygenHelp) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hearsay keygen: unexpected argument %q (keygen takes none)\nRun 'hearsay keygen -h' for usage.\n", fs.Arg(0))
		return 2
	}
	var key [KeySize]byte
	_, _ = rand.Read(key[:]) // crypto/rand.Read never fails (it crashes the program instead)
	if _, err := fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(key[:])); err != nil {
		fmt.Fprintf(stderr, "hearsay keygen: %v\n", err)
		return 1
	}
	return 0
}
