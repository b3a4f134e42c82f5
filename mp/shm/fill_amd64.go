package shm

import "golang.org/x/sys/cpu"

// fillNT is in shared_fill_amd64.s.
//
//go:noescape
func fillNT(p *byte, n int, pattern uint64)

const haveFillNT = true

// useAVX selects 32-byte stores in fillNT (VPBROADCASTQ needs AVX2).
var useAVX = cpu.X86.HasAVX2
