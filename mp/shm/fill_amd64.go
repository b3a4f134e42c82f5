package shm

import "golang.org/x/sys/cpu"

// fillNT is in fill_amd64.s.
//
//go:noescape
func fillNT(p *byte, n int, pattern uint64)

const haveFillNT = true

// useAVX selects 32-byte stores in fillNT (VPBROADCASTQ needs AVX2).
//
//lint:ignore U1000 read by fill_amd64.s
var useAVX = cpu.X86.HasAVX2
