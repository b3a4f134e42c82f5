// Package docgen writes the tutorial's pages from the chapters themselves.
//
// Each chapter is a directory partN/<name> with a main.go. Its comments
// become the prose and the code between them the code blocks, in the manner
// of Go by Example; the output shown is what the chapter printed when docgen
// built and ran it, not text pasted by hand. A chapter may add a doc.md
// beside its main.go with the arguments to run it with and its exercises
// (see ParseMeta). An exercise whose result the page states is written as
// an exercise comment (see Exercise): its flags, or its edit of main.go
// anchored on whole lines of the code; docgen builds and runs it too, and
// the page shows the edit and what the run printed. Generate writes
// docs/partN.md for every part directory, and refreshes the generated
// regions of hand-written pages (see Regions).
//
// The markers docgen reads in a chapter's main.go:
//
//	code //docs:skip     leaves this one line out of the page
//	//docs:skip          on a line of its own: leaves out every line up to
//	//docs:end           this one (the page says how many lines it left out)
//
// Run it with make docs, or go generate ./internal/docgen.
package docgen

//go:generate go run ./cmd/docgen -root ../..
