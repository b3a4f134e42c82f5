// Package embedded runs a NATS server with JetStream inside the program, so
// that package cluster needs nothing installed: the default of chapter
// part3/cluster, its tests and its example. A program that only connects to
// an existing server does not import it, and compiles no server.
package embedded

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrStart is wrapped by Start's error.
var ErrStart = errors.New("embedded: cannot start the NATS server")

// Config configures an embedded server. The zero Config is a server on
// 127.0.0.1, on a free port, without credentials, storing its streams in a
// temporary directory.
type Config struct {
	// Host is the address to listen on; default 127.0.0.1. Any address
	// other than a loopback one requires credentials: if Token is empty, a
	// random one is made (see Server.Token).
	Host string
	// Port is the port; 0 picks a free one.
	Port int
	// Token, if not empty, is required of every client (nats://TOKEN@host:port).
	Token string
	// StoreDir is where JetStream keeps its streams; empty means a new
	// temporary directory, removed by Shutdown (or, if the program was
	// killed, by the next Start of any program, which removes the
	// temporary stores whose program is gone). One StoreDir serves one
	// running server: Start fails while another uses it.
	StoreDir string
	// Name names the server in a cluster; default a random name.
	Name string
	// ClusterName, ClusterPort and Routes make the server a node of a NATS
	// cluster: it listens for the other nodes on Host:ClusterPort and
	// connects to Routes (nats-route://host:port, one per node; its own is
	// ignored). Streams created with more than one replica then live on
	// several nodes. Zero ClusterPort: no cluster.
	ClusterName string
	ClusterPort int
	Routes      []string
	// TLS, if not nil, makes clients connect with TLS (its Certificates
	// are the server's; set ClientAuth and ClientCAs to require client
	// certificates). Clients then use tls:// URLs and trust the server's
	// certificate (nats.RootCAs, or nats.Secure with a tls.Config).
	TLS *tls.Config
	// ReadyTimeout bounds the wait for the server to accept connections;
	// default 10 s.
	ReadyTimeout time.Duration
}

// Server is a running embedded server. Shutdown stops it.
type Server struct {
	s       *server.Server
	token   string
	tempDir string   // removed by Shutdown, if Config.StoreDir was empty
	owner   *os.File // locked in tempDir while the server lives
}

// Start starts a server and returns once it accepts connections. It fails
// with an error wrapping ErrStart when the address cannot be listened on,
// the store cannot be created, or the server is not ready in time; nothing
// is left running or on disk then.
func Start(cfg Config) (*Server, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Token == "" && !Loopback(cfg.Host) {
		cfg.Token = randomToken()
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s := &Server{token: cfg.Token}
	dir := cfg.StoreDir
	if dir == "" {
		removeOrphans()
		var err error
		if dir, s.owner, err = tempStore(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStart, err)
		}
		s.tempDir = dir
	} else {
		var err error
		if s.owner, err = lockStore(dir); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStart, err)
		}
	}
	opts := &server.Options{
		ServerName:    cfg.Name,
		Host:          cfg.Host,
		Port:          port,
		JetStream:     true,
		StoreDir:      dir,
		Authorization: cfg.Token,
		NoSigs:        true, // the program decides what signals do
		NoLog:         true,
	}
	if cfg.TLS != nil {
		opts.TLS, opts.TLSConfig, opts.TLSTimeout = true, cfg.TLS, 2
		opts.TLSVerify = cfg.TLS.ClientAuth == tls.RequireAndVerifyClientCert
	}
	if cfg.ClusterPort != 0 {
		if opts.ServerName == "" { // JetStream in a cluster requires one
			opts.ServerName = "mp-" + randomToken()[:8]
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: cfg.Host, Port: cfg.ClusterPort}
		opts.Routes = server.RoutesFromStr(strings.Join(cfg.Routes, ","))
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.removeStore()
		return nil, fmt.Errorf("%w on %s: %w", ErrStart, net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), err)
	}
	s.s = ns
	// The server says why it cannot start (a port in use, a store it
	// cannot create) only in its log, and then waits to be shut down:
	// without the log, Start would wait ReadyTimeout and say nothing.
	fatal := make(chan string, 1)
	ns.SetLoggerV2(fatalLog(fatal), false, false, false)
	ns.Start()
	if err := ready(ns, fatal, cfg.ReadyTimeout); err != nil {
		s.Shutdown()
		return nil, fmt.Errorf("%w on %s: %w", ErrStart, net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), err)
	}
	return s, nil
}

// ready waits until ns accepts connections, for at most timeout, or until
// it reports on fatal why it cannot.
func ready(ns *server.Server, fatal <-chan string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case why := <-fatal:
			return errors.New(why)
		default:
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("not ready within %v", timeout)
		}
		if ns.ReadyForConnections(min(left, 50*time.Millisecond)) {
			return nil
		}
	}
}

// fatalLog is a server log that keeps only the first fatal error, on its
// channel; the rest of the log is dropped, as Options.NoLog does.
type fatalLog chan string

func (l fatalLog) Fatalf(format string, v ...any) {
	select {
	case l <- fmt.Sprintf(format, v...):
	default:
	}
}
func (fatalLog) Noticef(string, ...any) {}
func (fatalLog) Warnf(string, ...any)   {}
func (fatalLog) Errorf(string, ...any)  {}
func (fatalLog) Debugf(string, ...any)  {}
func (fatalLog) Tracef(string, ...any)  {}

// URL returns the URL clients connect to, with the token if there is one.
func (s *Server) URL() string {
	u, err := url.Parse(s.s.ClientURL())
	if err != nil || s.token == "" {
		return s.s.ClientURL()
	}
	u.User = url.User(s.token)
	return u.String()
}

// Token returns the token clients must present, "" if none.
func (s *Server) Token() string { return s.token }

// Shutdown stops the server, waits for it, and removes its store if it was
// a temporary directory. It may be called more than once.
func (s *Server) Shutdown() {
	if s.s != nil {
		s.s.Shutdown()
		s.s.WaitForShutdown()
	}
	s.removeStore()
}

func (s *Server) removeStore() {
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
	if s.owner != nil {
		s.owner.Close()
	}
}

// Loopback reports whether host names only this machine: "localhost" or a
// loopback IP address.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
