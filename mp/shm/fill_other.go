//go:build !amd64

package shm

func fillNT(p *byte, n int, pattern uint64) { panic("unreachable") }

const haveFillNT = false
