package docgen

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// ExerciseKey is the key of exercise n of chapter c in the outputs that
// RenderPart takes: its part of the page, as RunExercises made it.
func ExerciseKey(c *Chapter, n int) string { return fmt.Sprintf("%s#%d", c.Name, n) }

// RunExercises runs every exercise of the chapters cs: a chapter binary from
// binDir for those that only change arguments, and for those that edit
// main.go a build of the edited file (go build -overlay, so the tree is
// never touched), each compiled once. Builds and runs go on in parallel, as
// many as there are CPUs. It returns each exercise's part of the page by
// ExerciseKey: the edit as a diff, and the command with what it printed.
// An exercise that cannot be applied, does not build, or ends with another
// exit status than its doc.md says is an error, and so is a test named by
// an exercise that is not there. Exercises that only name their tests, or
// say why nothing checks them, are not run.
func RunExercises(ctx context.Context, root, binDir string, cs []*Chapter, env []string) (map[string]string, error) {
	type job struct {
		c  *Chapter
		ex Exercise
	}
	var jobs []job
	for _, c := range cs {
		for _, ex := range c.Meta.Exercises {
			if err := ex.CheckTests(root); err != nil {
				return nil, fmt.Errorf("%s: %w", c.Dir, err)
			}
			if ex.Runs() {
				jobs = append(jobs, job{c, ex})
			}
		}
	}
	if len(jobs) == 0 {
		return map[string]string{}, nil
	}
	tmp, err := os.MkdirTemp("", "docgen-exercises-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	var (
		mu      sync.Mutex
		results = map[string]string{}
		errs    []error
		wg      sync.WaitGroup
		slots   = make(chan struct{}, runtime.NumCPU())
	)
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			page, err := runExercise(ctx, root, binDir, filepath.Join(tmp, fmt.Sprintf("%s-%d", j.c.Name, j.ex.N)), j.c, j.ex, env)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s exercise %d: %w", j.c.Dir, j.ex.N, err))
				return
			}
			results[ExerciseKey(j.c, j.ex.N)] = page
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		sort.Slice(errs, func(a, b int) bool { return errs[a].Error() < errs[b].Error() })
		return nil, errs[0]
	}
	return results, nil
}

// runExercise builds (if it edits) and runs one exercise in dir, and
// renders its part of the page.
func runExercise(ctx context.Context, root, binDir, dir string, c *Chapter, ex Exercise, env []string) (string, error) {
	diff := ""
	if len(ex.Edits) > 0 {
		mainGo := filepath.Join(root, filepath.FromSlash(c.Dir), "main.go")
		src, err := os.ReadFile(mainGo)
		if err != nil {
			return "", err
		}
		edited, err := ex.Apply(string(src))
		if err != nil {
			return "", err
		}
		diff = Diff(string(src), edited)
		if binDir, err = buildEdited(ctx, root, dir, c, mainGo, edited); err != nil {
			return "", err
		}
	}

	out, status, left, err := runBinary(ctx, binDir, c.Name, ex.Args, c.Meta.Timeout, env)
	if err != nil {
		return "", err
	}
	if status != ex.Exit {
		return "", fmt.Errorf("%w: exited with status %s, doc.md expects %s:\n%s", ErrRun, statusText(status), statusText(ex.Exit), out)
	}
	if len(left) > 0 && !ex.ListShm {
		return "", fmt.Errorf("%w: the run left %v in /dev/shm (say ls: /dev/shm to show it on the page)", ErrExercise, left)
	}
	// The listing is normalised with the output, so that a PID in a
	// segment's name keeps the number the output gives it.
	const lsMark = "\x00ls\n"
	if ex.ListShm {
		out = strings.TrimRight(out, "\n") + "\n" + lsMark
		for _, name := range left {
			out += name + "\n"
		}
	}
	out = Normalize(out, append(append([]Rule{}, c.Meta.Normalize...), ex.Normalize...))
	out, ls, _ := strings.Cut(out, lsMark)
	return renderExercise(c, ex, diff, filterLines(out, ex), ls), nil
}

// buildEdited builds chapter c with its main.go replaced by edited, into
// dir/bin/<name> (the binary keeps the chapter's name, which the backends'
// process names show), and returns dir/bin.
func buildEdited(ctx context.Context, root, dir string, c *Chapter, mainGo, edited string) (string, error) {
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	absMain, err := filepath.Abs(mainGo)
	if err != nil {
		return "", err
	}
	file := filepath.Join(dir, "main.go")
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		return "", err
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {absMain: file}})
	if err != nil {
		return "", err
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", overlayFile, "-o", filepath.Join(bin, c.Name), "./"+c.Dir)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: the edited main.go does not build: %v\n%s", ErrExercise, err, out)
	}
	return bin, nil
}

// removeSegments removes the /dev/shm files whose names start with prefix,
// and returns their names, sorted.
func removeSegments(prefix string) []string {
	var names []string
	entries, _ := os.ReadDir("/dev/shm")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
			os.Remove(filepath.Join("/dev/shm", e.Name()))
		}
	}
	return names
}

// statusText says an exit status as a shell user sees it.
func statusText(status int) string {
	if status == ExitKilled {
		return "killed"
	}
	return fmt.Sprint(status)
}

// filterLines keeps the lines of out that ex.Show matches, and marks each
// run of lines left out with "…".
func filterLines(out string, ex Exercise) string {
	if ex.Show == nil {
		return out
	}
	var kept []string
	skipped := false
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if ex.Show.MatchString(l) {
			kept = append(kept, l)
			skipped = false
		} else if !skipped && !ex.Grep {
			kept = append(kept, "…")
			skipped = true
		}
	}
	return strings.Join(kept, "\n") + "\n"
}

// renderExercise is an exercise's part of the page, unindented: its edit
// as a diff (folded away when it is the answer to the exercise), then the
// command and what it printed, ending as go run ends a failed program.
// With ex.ListShm, ls is what ls /dev/shm then shows of the run's segments.
func renderExercise(c *Chapter, ex Exercise, diff, out, ls string) string {
	var b strings.Builder
	if diff != "" {
		if ex.Hidden {
			b.WriteString("<details><summary>A solution (the test suite builds and runs it)</summary>\n\n")
		}
		fmt.Fprintf(&b, "```diff\n--- %s/main.go\n+++ %s/main.go, edited\n%s```\n\n", c.Dir, c.Dir, diff)
		if ex.Hidden {
			b.WriteString("</details>\n\n")
		}
	}
	cmd := "go run ./" + c.Dir
	if len(ex.Args) > 0 {
		cmd += " " + strings.Join(ex.Args, " ")
	}
	if ex.Grep {
		cmd += " 2>&1 | grep -E '" + ex.Show.String() + "'"
	}
	fmt.Fprintf(&b, "```console\n$ %s\n%s", cmd, out)
	switch ex.Exit {
	case 0:
	case ExitKilled:
		b.WriteString("signal: killed\n")
	default:
		fmt.Fprintf(&b, "exit status %d\n", ex.Exit)
	}
	if ex.ListShm {
		b.WriteString("$ ls /dev/shm | grep mp-\n" + ls)
	}
	b.WriteString("```\n")
	return b.String()
}

// placeExercises puts the rendered exercises of c into a section's body,
// where their comments were, indented as the comments were.
func placeExercises(body string, c *Chapter, outputs map[string]string) string {
	for _, ex := range c.Meta.Exercises {
		if !strings.Contains(body, ex.marker) {
			continue
		}
		page, ok := outputs[ExerciseKey(c, ex.N)]
		switch {
		case !ex.Runs():
			page = renderChecks(ex, c.Dir)
		case !ok:
			page = fmt.Sprintf("(exercise %d was not run)\n", ex.N)
		case len(ex.Tests) > 0:
			page += "\n" + renderChecks(ex, c.Dir)
		}
		lines := strings.Split(strings.TrimRight(page, "\n"), "\n")
		for i, l := range lines {
			if l != "" {
				lines[i] = ex.indent + l
			}
		}
		body = strings.Replace(body, ex.marker, strings.Join(lines, "\n"), 1)
	}
	return body
}
