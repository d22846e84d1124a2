// Package seeds finds the first peers a hearsay node gossips with.
//
// A node that starts knows no one. Seeds are the contacts it uses for the
// first gossip rounds and for the shadow round, which fetches the cluster's
// state before the node announces itself; after that, gossip itself tells
// the node about every other member, and the gossiper keeps one seed in its
// rounds so that partitions heal. Seeds are only contacts: any member can be
// one, a seed list may name members that are down, and a stale seed list
// costs nothing but a failed connection.
//
// # Providers
//
// A [Provider] returns the current seed list. This package has four:
//
//   - [Static]: a fixed list of "host:port" entries, the agent's --seeds
//     flag. Hostnames are resolved to all their addresses on every call.
//   - [DNS]: one DNS name, as A/AAAA records with a fixed port
//     (--seed-dns NAME[:PORT]) or as SRV records that give targets and
//     ports (--seed-srv NAME), asked of the system resolver or of a given
//     server (--dns-server HOST:PORT).
//   - [File]: a seed file that operators edit in place (--seed-file PATH);
//     changes are picked up on the next call.
//   - [Multi]: the union of several providers.
//
// # Re-resolution
//
// The common failure of seed lists in the field is a DNS name resolved once,
// at start: after a redeploy the seeds' addresses change and nodes that
// restart, or that lost the cluster, never find it again. Here every Seeds
// call resolves again, and a [Watcher] calls Seeds at once and then on an
// interval, in a goroutine of its own. The gossip loop never waits for DNS:
// it reads the latest list ([Watcher.Seeds]) or receives it through the
// watcher's callback.
//
// # Failures
//
// A provider that fails after a good answer returns that last good answer
// with a nil error, and logs and counts the failure ([Stats]). It returns an
// error only before it has ever succeeded. A Watcher never replaces a list
// with an error or an empty list, and keeps polling, so a node that started
// while DNS was down keeps running as a cluster of one and joins as soon as
// the seeds resolve.
//
// # Addresses
//
// Seeds are "ip:port" strings for everything resolved ("10.0.0.7:7000",
// "[fd00::7]:7000"), sorted (IPv4 first, numerically) and without
// duplicates. [Exclude] removes the node's own address from a list.
//
// This package is part of the runtime shell: it does I/O and starts
// goroutines, and the protocol core never imports it.
package seeds
