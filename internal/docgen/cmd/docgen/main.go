// Command docgen writes the tutorial's pages (docs/partN.md) from the
// chapters' main.go and doc.md files and from real runs of the chapters,
// and refreshes the generated regions of the other pages.
//
//	go run ./internal/docgen/cmd/docgen [-root DIR] [-check]
//
// With -check it writes nothing and exits 1 if a page is out of date.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mpgo/mp/internal/docgen"
)

func main() {
	root := flag.String("root", ".", "repository root")
	check := flag.Bool("check", false, "only report pages that are out of date")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, root string, check bool) error {
	files, err := docgen.Generate(ctx, docgen.Options{Root: root})
	if err != nil {
		return err
	}
	if check {
		stale := docgen.Stale(root, files)
		for _, s := range stale {
			fmt.Println(s)
		}
		if len(stale) > 0 {
			return fmt.Errorf("%d pages out of date: run make docs", len(stale))
		}
		return nil
	}
	written, err := docgen.Write(root, files)
	for _, w := range written {
		fmt.Println("wrote", w)
	}
	return err
}
