// Package docs holds hearsay's documentation (the Markdown files in this
// directory) and the repository-wide guardrail tests: the purity lint that
// keeps the protocol core deterministic, and the doc-comment check.
package docs
