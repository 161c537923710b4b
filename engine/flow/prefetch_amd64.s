#include "textflag.h"

// func prefetchLine(p unsafe.Pointer)
TEXT ·prefetchLine(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ p+0(FP), AX
	PREFETCHT0 0(AX)
	RET

// func prefetchRecord(f *Flow, side uintptr, all bool)
TEXT ·prefetchRecord(SB), NOSPLIT|NOFRAME, $0-17
	MOVQ f+0(FP), AX
	MOVQ side+8(FP), BX
	MOVBLZX all+16(FP), CX
	PREFETCHT0 0(AX)
	PREFETCHT0 64(AX)
	SHLQ $6, BX
	PREFETCHT0 128(AX)(BX*1)
	TESTQ CX, CX
	JZ done
	PREFETCHT0 128(AX)
	PREFETCHT0 192(AX)
	PREFETCHT0 256(AX)
	PREFETCHT0 320(AX)
done:
	RET
