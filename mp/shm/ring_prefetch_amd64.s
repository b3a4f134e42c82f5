#include "textflag.h"

// func prefetchw(p unsafe.Pointer)
// Asks for the cache line at p in a writable state, without waiting for
// it (PREFETCHW): the producer's later stores to a slot that the consumer
// read one lap ago then find the line already here.
TEXT ·prefetchw(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	// PREFETCHW (AX) and PREFETCHW 64(AX): Go's assembler has no
	// mnemonic for it (0F 0D /1).
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08
	BYTE $0x0F; BYTE $0x0D; BYTE $0x48; BYTE $0x40
	RET
