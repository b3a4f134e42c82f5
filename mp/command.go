package mp

import (
	"context"
	"fmt"
)

// Params suit a few scalar arguments, but every parameter costs a lookup, a
// type check and an error branch, and the compiler checks neither the key
// nor the type. A Command gives a command a request type and a reply type,
// declared once and shared by both sides of the process, so the compiler
// checks what the frontend sends and what the handler receives:
//
//	type WorkReq struct{ Seed int64; Seconds float64 }
//	type WorkResp struct{ Value float64 }
//
//	var work = mp.NewCommand[WorkReq, WorkResp]("work")
//
//	// backend: register the handler on the kind
//	var workers = mp.NewKind("Worker", newWorker)
//	func init() { mp.HandleCommand(workers, work, (*worker).work) }
//
//	// frontend: call it
//	resp, err := work.Call(ctx, p, WorkReq{Seed: 1, Seconds: 0.5})
//
// The value travels encoded (see payload.go) inside an ordinary message, so
// typed commands and Params messages share the same pipe, frames and errors.

// Command is a command with a request of type Req and a reply of type Resp.
// Declare it once, at package level, with NewCommand. Its methods are safe
// for concurrent use.
//
// Req and Resp travel encoded with CBOR, as encoding/json would: exported
// fields only (an unexported field arrives as its zero value, without an
// error), and a field of interface type arrives with CBOR's own types (an
// int32 as a uint64 or int64, a struct as a map). Give fields concrete
// exported types.
type Command[Req, Resp any] struct {
	name string
}

// NewCommand returns the command named name. It panics if name is empty.
// Each name may be used by one Command and one HandleCommand per kind; the
// registry of handlers (Kind.Handle) rejects a name registered twice.
func NewCommand[Req, Resp any](name string) *Command[Req, Resp] {
	if name == "" {
		panic("mp: NewCommand needs a name")
	}
	return &Command[Req, Resp]{name: name}
}

// Name returns the command's name, as the backend's handler table knows it.
func (c *Command[Req, Resp]) Name() string { return c.name }

// Call sends req to the backend of p and waits for the handler's reply. It
// fails as Process.Call does (ErrHandler, ErrHandlerPanic, ErrBackendDied,
// ErrStopped, ctx's error), with ErrParam if req cannot be encoded, and with
// an error wrapping ErrParam if the reply does not decode as a Resp.
func (c *Command[Req, Resp]) Call(ctx context.Context, p *Process, req Req) (Resp, error) {
	var zero Resp
	params, err := putPayload(req)
	if err != nil {
		return zero, opError(fmt.Sprintf("call %q", c.name), p.Name(), err)
	}
	reply, err := p.Call(ctx, c.name, params)
	if err != nil {
		return zero, err
	}
	var resp Resp
	if err := takePayload(reply.Params, &resp); err != nil {
		return zero, opError(fmt.Sprintf("call %q", c.name), p.Name(), fmt.Errorf("reply: %w", err))
	}
	return resp, nil
}

// Send sends req to the backend of p without waiting for it to be handled;
// the handler's reply value is discarded. It fails as Process.Send does, and
// with ErrParam if req cannot be encoded.
func (c *Command[Req, Resp]) Send(ctx context.Context, p *Process, req Req) error {
	params, err := putPayload(req)
	if err != nil {
		return opError(fmt.Sprintf("send %q", c.name), p.Name(), err)
	}
	return p.Send(ctx, c.name, params)
}

// HandleCommand registers h as the handler of command c on kind k, and
// returns k. The handler receives the decoded request; what it returns is
// the reply of a Call (ignored for a Send), and an error it returns reaches
// the caller as a *RemoteError wrapping ErrHandler, as with Kind.Handle. A
// request that does not decode as a Req fails the call with ErrHandler, and
// the handler does not run. Go methods cannot take type parameters, so this
// is a function:
//
//	mp.HandleCommand(workers, work, (*worker).work)
//
// Register it at package level, as Handle says. HandleCommand panics, as
// Handle does, if c's name already has a handler or Init has returned.
func HandleCommand[B, Req, Resp any](k *Kind[B], c *Command[Req, Resp], h func(b *B, ctx context.Context, req Req) (Resp, error)) *Kind[B] {
	if h == nil {
		panic(fmt.Sprintf("mp: kind %q: HandleCommand needs a handler", k.name))
	}
	return k.handle(c.name, func(b *B, be *Backend, ctx context.Context, m Message) error {
		var req Req
		if err := takePayload(m.Params, &req); err != nil {
			return fmt.Errorf("request: %w", err)
		}
		resp, err := h(b, ctx, req)
		if err != nil || !m.IsCall() {
			return err
		}
		params, err := putPayload(resp)
		if err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		return be.Reply(ctx, m, c.name, params)
	})
}

// Report is a typed message from a backend to its frontend: a worker saying
// it is ready, a progress figure, a result it was not asked for. Declare it
// once at package level with NewReport; the backend sends it with Send, and
// the frontend recognizes and decodes it with Decode in its loop over
// Process.Messages.
type Report[T any] struct {
	name string
}

// NewReport returns the report named name. It panics if name is empty.
func NewReport[T any](name string) *Report[T] {
	if name == "" {
		panic("mp: NewReport needs a name")
	}
	return &Report[T]{name: name}
}

// Name returns the report's name: the Command of the messages that carry it.
func (r *Report[T]) Name() string { return r.name }

// Send sends v from backend b to its frontend, as Backend.Send does, and
// fails as it does, and with ErrParam if v cannot be encoded.
func (r *Report[T]) Send(ctx context.Context, b *Backend, v T) error {
	params, err := putPayload(v)
	if err != nil {
		return opError(fmt.Sprintf("send %q", r.name), b.Name(), err)
	}
	return b.Send(ctx, r.name, params)
}

// Decode returns the value carried by m and true if m is this report, and
// false if it is another message. A message of this name whose payload does
// not decode as a T is an error wrapping ErrParam.
func (r *Report[T]) Decode(m Message) (T, bool, error) {
	var v T
	if m.Command != r.name {
		return v, false, nil
	}
	if err := takePayload(m.Params, &v); err != nil {
		return v, true, opError(fmt.Sprintf("report %q", r.name), "", err)
	}
	return v, true, nil
}
