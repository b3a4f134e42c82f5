//go:build !amd64

package mp

func fillNT(p *byte, n int, pattern uint64) { panic("unreachable") }

const haveFillNT = false
