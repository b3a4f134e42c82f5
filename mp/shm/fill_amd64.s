#include "textflag.h"

// func fillNT(p *byte, n int, pattern uint64)
// Writes the 8-byte pattern over n bytes at p with non-temporal stores,
// which go straight to memory instead of first reading every cache line
// they are about to overwrite. p must be 64-byte aligned and n a multiple
// of 64. SFENCE orders the stores before whatever follows (the event that
// tells the other process the data is there).
TEXT ·fillNT(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ pattern+16(FP), AX
	SHRQ $6, CX
	JZ done
	CMPB ·useAVX(SB), $1
	JEQ avx
	MOVQ AX, X0
	PUNPCKLQDQ X0, X0
sse:
	MOVNTO X0, 0(DI)
	MOVNTO X0, 16(DI)
	MOVNTO X0, 32(DI)
	MOVNTO X0, 48(DI)
	ADDQ $64, DI
	DECQ CX
	JNZ sse
	JMP done
avx:
	MOVQ AX, X0
	VPBROADCASTQ X0, Y0
avxloop:
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y0, 32(DI)
	ADDQ $64, DI
	DECQ CX
	JNZ avxloop
	VZEROUPPER
done:
	SFENCE
	RET
