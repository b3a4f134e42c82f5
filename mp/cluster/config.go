package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config names the streams and sets the delivery rules. Every submitter
// and worker of one deployment must use the same Config. The first program
// to start creates the streams, and the first worker host each command's
// consumer; a program whose Replicas differ from the streams', or a worker
// host whose AckWait or MaxDeliver differ from the consumer's, fails with
// ErrConfig rather than change them for every program. The zero Config is
// the default.
type Config struct {
	// Prefix starts every subject and names the streams: tasks go to
	// <Prefix>.task.<command> in stream <PREFIX>_TASKS, results to
	// <Prefix>.result.<client>.<task> in stream <PREFIX>_RESULTS.
	// Letters, digits, '-' and '_' only; default "mp". Prefixes that
	// differ only in case name the same streams: the second program to
	// start on a server fails with ErrConfig.
	Prefix string
	// AckWait is how long a delivered task may go without news from its
	// worker (InProgress, every third of it) before it is redelivered to
	// another. Default 30 s; less than a millisecond is an error.
	AckWait time.Duration
	// MaxDeliver is how many times a task is delivered before it fails
	// with ErrFailed. Default 3.
	MaxDeliver int
	// Replicas is the number of copies of each stream in a NATS cluster.
	// Default 1.
	Replicas int
	// ResultTTL is how long a result stays in the results stream for a
	// client to read. Default 1 h.
	ResultTTL time.Duration
	// Timeout bounds each call to the server (creating streams, storing a
	// result). Default 10 s; less than a millisecond is an error.
	Timeout time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Prefix == "" {
		c.Prefix = "mp"
	}
	if err := checkToken(c.Prefix); err != nil {
		return c, fmt.Errorf("cluster: %w: Prefix: %v", ErrConfig, err)
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 3
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.ResultTTL == 0 {
		c.ResultTTL = time.Hour
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.AckWait < 0 || c.MaxDeliver < 1 || c.Replicas < 1 || c.ResultTTL < 0 || c.Timeout < 0 {
		return c, fmt.Errorf("cluster: %w: negative duration, MaxDeliver or Replicas", ErrConfig)
	}
	// A bare number is nanoseconds: AckWait 30 meant as seconds would
	// tick InProgress every 10 ns (or panic the ticker below 3 ns), and a
	// Timeout of 10 would end every call to the server at once.
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"AckWait", c.AckWait}, {"Timeout", c.Timeout}} {
		if d.v < minDuration {
			return c, fmt.Errorf("cluster: %w: %s %v: want at least %v (a time.Duration: 30*time.Second, not 30)", ErrConfig, d.name, d.v, minDuration)
		}
	}
	return c, nil
}

// minDuration is the least AckWait and Timeout a Config accepts.
const minDuration = time.Millisecond

func (c Config) taskStream() string   { return strings.ToUpper(c.Prefix) + "_TASKS" }
func (c Config) resultStream() string { return strings.ToUpper(c.Prefix) + "_RESULTS" }
func (c Config) taskSubject(command string) string {
	return c.Prefix + ".task." + command
}
func (c Config) resultSubject(client, task string) string {
	return c.Prefix + ".result." + client + "." + task
}
func (c Config) consumer(command string) string      { return "task-" + command }
func (c Config) resultConsumer(client string) string { return "result-" + client }

// checkToken accepts a name that can be one token of a subject and part of
// a stream or consumer name.
func checkToken(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%q: want letters, digits, '-' and '_' only", s)
		}
	}
	return nil
}

// ensureStreams creates the two streams of cfg, or checks that those that
// exist have its number of replicas.
func ensureStreams(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	// The duplicate window covers a task's whole life: a publish retried
	// after a lost reply, and a result stored again by a second run of
	// its task, are both dropped by the server.
	window := max(2*time.Minute, cfg.AckWait*time.Duration(cfg.MaxDeliver+1))
	if err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:       cfg.taskStream(),
		Subjects:   []string{cfg.Prefix + ".task.>"},
		Retention:  jetstream.WorkQueuePolicy,
		Replicas:   cfg.Replicas,
		Duplicates: window,
	}); err != nil {
		return err
	}
	return ensureStream(ctx, js, jetstream.StreamConfig{
		Name:       cfg.resultStream(),
		Subjects:   []string{cfg.Prefix + ".result.>"},
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     max(cfg.ResultTTL, window),
		Replicas:   cfg.Replicas,
		Duplicates: window,
	})
}

// ensureStream creates stream sc unless it exists. One that exists with
// other replicas is an error: changing them would change them for every
// program (and one replica where there were three is data at risk).
func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	st, err := js.Stream(ctx, sc.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = js.CreateStream(ctx, sc)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // made by another program meanwhile
			st, err = js.Stream(ctx, sc.Name)
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: stream %s: %w", sc.Name, err)
	}
	got := st.CachedInfo().Config
	if got.Replicas != sc.Replicas {
		return fmt.Errorf("cluster: %w: stream %s has %d replica(s), this program's Config %d: every program must use the same (delete the stream to change it)",
			ErrConfig, sc.Name, got.Replicas, sc.Replicas)
	}
	// The name is the Prefix in capitals: "jobs" and "Jobs" name one
	// stream, whose subjects are only the first's; and another program
	// may have made a stream of that name for something else.
	if !slices.Equal(got.Subjects, sc.Subjects) || got.Retention != sc.Retention {
		return fmt.Errorf("cluster: %w: stream %s takes subjects %v with %v retention, this program's Config wants %v with %v: another Prefix that differs only in case, or a stream that is not this package's (choose another Prefix)",
			ErrConfig, sc.Name, got.Subjects, got.Retention, sc.Subjects, sc.Retention)
	}
	return nil
}

// Connect connects to the NATS server (or cluster) at url, a
// comma-separated list of nats:// URLs that may carry a user and password
// or a token (nats://token@host:4222), within timeout (default 5 s), and
// then reconnects for as long as the connection is used. It fails with an
// error wrapping ErrConnect that names the URL, its secret left out, when
// no server answers in time or the server refuses the credentials, and at
// once when a user, password or token does not parse (a '/', '#', '%', '?'
// or space in it must be %-escaped): the error then leaves out the
// client library's, which quotes the URL. opts are the client's own
// options (nats.UserCredentials for a credentials file, nats.RootCAs for
// TLS, ...).
func Connect(rawURL string, timeout time.Duration, opts ...nats.Option) (*nats.Conn, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if strings.TrimSpace(rawURL) == "" { // an unset variable, say
		return nil, fmt.Errorf("cluster: %w: the URL is empty (want nats://host:port)", ErrConnect)
	}
	for _, p := range strings.Split(rawURL, ",") {
		if _, _, parsed := userinfo(p); !parsed {
			return nil, fmt.Errorf("cluster: %w to %s: the user, password or token does not parse: escape / # %% ? and spaces in it (%%2F %%23 %%25 %%3F %%20)", ErrConnect, Redact(rawURL))
		}
	}
	opts = append([]nats.Option{
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}, opts...)
	nc, err := nats.Connect(rawURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w to %s: %w", ErrConnect, Redact(rawURL), err)
	}
	return nc, nil
}

// Redact returns the URLs in s with their passwords and tokens replaced by
// "xxxxx", for logs and errors; a URL whose user information does not
// parse has all of it replaced.
func Redact(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, at, parsed := userinfo(p)
		switch {
		case at < 0: // no user information
		case !parsed:
			parts[i] = p[:strings.Index(p, "://")+3] + "xxxxx" + p[at:]
			if !strings.Contains(p, "://") {
				parts[i] = "xxxxx" + p[at:]
			}
		default:
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User("xxxxx")
			}
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// userinfo parses one URL of a list as the client library does (nats://
// if it names no scheme). at is the index in p of the '@' that ends its
// user information, -1 if it has none; parsed says whether the URL parser
// finds that very user information, rather than an error or another split
// (a '#' or '/' in a token makes the rest a fragment or a path).
func userinfo(p string) (u *url.URL, at int, parsed bool) {
	start := 0
	if i := strings.Index(p, "://"); i >= 0 {
		start = i + 3
	}
	at = strings.LastIndexByte(p, '@')
	if at < start {
		return nil, -1, true
	}
	full := p
	if start == 0 {
		full = "nats://" + strings.TrimSpace(p)
	}
	u, err := url.Parse(strings.TrimSpace(full))
	parsed = err == nil && u.User != nil && strings.HasPrefix(p[at+1:], u.Host)
	return u, at, parsed
}
