#include "textflag.h"

// func cpuid(leaf, sub uint32) (a, b, c, d uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET

// func xgetbv() (lo, hi uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, lo+0(FP)
	MOVL DX, hi+4(FP)
	RET

// CENTRES broadcasts the 8 centre norms at AX into r0..r7.
#define CENTRES(r0, r1, r2, r3, r4, r5, r6, r7) \
	VBROADCASTSS 0(AX), r0; VBROADCASTSS 4(AX), r1; VBROADCASTSS 8(AX), r2; VBROADCASTSS 12(AX), r3 \
	VBROADCASTSS 16(AX), r4; VBROADCASTSS 20(AX), r5; VBROADCASTSS 24(AX), r6; VBROADCASTSS 28(AX), r7

// EACH runs the step M(c, rc) for each of the 8 centres c, rc its accumulator.
#define EACH(M, r0, r1, r2, r3, r4, r5, r6, r7) \
	M(0, r0); M(1, r1); M(2, r2); M(3, r3); M(4, r4); M(5, r5); M(6, r6); M(7, r7)

// NEXT moves on by rows rows (bytes bytes of output) and loops back to chunk.
#define NEXT(rows, bytes, chunk) ADDQ $rows, R9; ADDQ $bytes, BX; SUBQ $rows, R10; JMP chunk

#define ACC(c, Yc) \
	VBROADCASTSS (c*4)(DX), Y12 \
	VFMADD231PS  Y12, Y9, Yc

#define PICK(c, Yc) \
	VCMPPS       $1, Y14, Yc, Y9 \
	VBLENDVPS    Y9, Yc, Y14, Y14 \
	VBROADCASTSS (c*4)(CX), Y10 \
	VBLENDVPS    Y9, Y10, Y13, Y13

// func kernel8(cols *[]float32, colIdx *int, d, off, n int, a, b, coef, cn *float32, ids *int32, best *float32, idx *int32, xn *float32, doXn int)
//
// Per chunk of 8 rows (one row per vector lane): Y0..Y7 accumulate ‖c‖² − 2 c·z for the
// 8 centres, Y8 accumulates ‖z‖², Y9 holds z for the current feature. Then each centre's
// score is compared with the running best (Y14) and its index (Y13) taken where smaller;
// NaN scores never compare smaller, so rows with NaN keep +Inf and −1.
TEXT ·kernel8(SB), NOSPLIT, $0-112
	MOVQ cols+0(FP), SI; MOVQ colIdx+8(FP), DI; MOVQ d+16(FP), R8; MOVQ off+24(FP), R9
	MOVQ n+32(FP), R10; MOVQ a+40(FP), R11; MOVQ b+48(FP), R12; MOVQ coef+56(FP), R13
	XORQ BX, BX

chunk:
	CMPQ R10, $8
	JLT  done
	MOVQ cn+64(FP), AX
	CENTRES(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	VXORPS       Y8, Y8, Y8
	XORQ         CX, CX
	MOVQ         R13, DX

feat:
	CMPQ         CX, R8
	JGE          featdone
	MOVQ         (DI)(CX*8), AX
	LEAQ         (AX)(AX*2), AX
	MOVQ         (SI)(AX*8), AX
	PREFETCHT0   512(AX)(R9*4)
	VMOVUPS      (AX)(R9*4), Y9
	VBROADCASTSS (R11)(CX*4), Y10
	VBROADCASTSS (R12)(CX*4), Y11
	VFMADD213PS  Y11, Y10, Y9
	VFMADD231PS  Y9, Y9, Y8
	EACH(ACC, Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	ADDQ         $32, DX
	INCQ         CX
	JMP          feat

featdone:
	MOVQ    doXn+104(FP), AX
	TESTQ   AX, AX
	JZ      pick
	MOVQ    xn+96(FP), AX
	VMOVUPS Y8, (AX)(BX*1)

pick:
	MOVQ    best+80(FP), AX
	MOVQ    idx+88(FP), DX
	MOVQ    ids+72(FP), CX
	VMOVUPS (AX)(BX*1), Y14
	VMOVUPS (DX)(BX*1), Y13
	EACH(PICK, Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	VMOVUPS Y14, (AX)(BX*1)
	VMOVUPS Y13, (DX)(BX*1)
	NEXT(8, 32, chunk)

done:
	VZEROUPPER
	RET

#define ACC16(c, Zc) \
	VFMADD231PS.BCST (c*4)(DX), Z9, Zc

#define PICK16(c, Zc) \
	VCMPPS       $1, Z14, Zc, K1 \
	VBLENDMPS    Zc, Z14, K1, Z14 \
	VPBROADCASTD (c*4)(CX), Z10 \
	VPBLENDMD    Z10, Z13, K1, Z13

// func kernel16(cols *[]float32, colIdx *int, d, off, n int, a, b, coef, cn *float32, ids *int32, best *float32, idx *int32, xn *float32, doXn int)
//
// kernel8 with AVX-512: 16 rows per vector (a whole cache line of every column per
// visit), centre coefficients broadcast from memory inside the FMA. n is a multiple of 16.
TEXT ·kernel16(SB), NOSPLIT, $0-112
	MOVQ cols+0(FP), SI; MOVQ colIdx+8(FP), DI; MOVQ d+16(FP), R8; MOVQ off+24(FP), R9
	MOVQ n+32(FP), R10; MOVQ a+40(FP), R11; MOVQ b+48(FP), R12; MOVQ coef+56(FP), R13
	XORQ BX, BX

chunk16:
	CMPQ R10, $16
	JLT  done16
	MOVQ cn+64(FP), AX
	CENTRES(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	VXORPS       Z8, Z8, Z8
	XORQ         CX, CX
	MOVQ         R13, DX

feat16:
	CMPQ         CX, R8
	JGE          featdone16
	MOVQ         (DI)(CX*8), AX
	LEAQ         (AX)(AX*2), AX
	MOVQ         (SI)(AX*8), AX
	VMOVUPS      (AX)(R9*4), Z9
	VBROADCASTSS (R11)(CX*4), Z10
	VFMADD213PS.BCST (R12)(CX*4), Z10, Z9
	VFMADD231PS  Z9, Z9, Z8
	EACH(ACC16, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	ADDQ         $32, DX
	INCQ         CX
	JMP          feat16

featdone16:
	MOVQ    doXn+104(FP), AX
	TESTQ   AX, AX
	JZ      pick16
	MOVQ    xn+96(FP), AX
	VMOVUPS Z8, (AX)(BX*1)

pick16:
	MOVQ    best+80(FP), AX
	MOVQ    idx+88(FP), DX
	MOVQ    ids+72(FP), CX
	VMOVUPS (AX)(BX*1), Z14
	VMOVDQU32 (DX)(BX*1), Z13
	EACH(PICK16, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	VMOVUPS Z14, (AX)(BX*1)
	VMOVDQU32 Z13, (DX)(BX*1)
	NEXT(16, 64, chunk16)

done16:
	VZEROUPPER
	RET

// SPLAT8 writes v into the 8 lanes of the YMM constant at offset off of log1pc.
#define SPLAT8(off, v) \
	DATA log1pc<>+(off)(SB)/4, v; DATA log1pc<>+(off+4)(SB)/4, v; DATA log1pc<>+(off+8)(SB)/4, v \
	DATA log1pc<>+(off+12)(SB)/4, v; DATA log1pc<>+(off+16)(SB)/4, v; DATA log1pc<>+(off+20)(SB)/4, v \
	DATA log1pc<>+(off+24)(SB)/4, v; DATA log1pc<>+(off+28)(SB)/4, v

// Constants of log1p8, one YMM each: see log1p8.
SPLAT8(0, $0x3f800000)
SPLAT8(32, $0x7fffffff)
SPLAT8(64, $0x80000000)
SPLAT8(96, $0x004afb0d)
SPLAT8(128, $0x007fffff)
SPLAT8(160, $0x3f3504f3)
SPLAT8(192, $0x0000007f)
SPLAT8(224, $0x3d9021bb)
SPLAT8(256, $0xbdebd1b8)
SPLAT8(288, $0x3def251a)
SPLAT8(320, $0xbdfe5d4f)
SPLAT8(352, $0x3e11e9bf)
SPLAT8(384, $0xbe2aae50)
SPLAT8(416, $0x3e4cceac)
SPLAT8(448, $0xbe7ffffc)
SPLAT8(480, $0x3eaaaaaa)
SPLAT8(512, $0x3f000000)
SPLAT8(544, $0x3f317218)
GLOBL log1pc<>(SB), RODATA|NOPTR, $576

// func log1p8(dst, src *float32, n int)
//
// dst[i] = sign(src[i])·log1p(|src[i]|) for n values (a multiple of 8), 8 per step:
// u = 1+x is split as (1+f)·2^e with 1+f in [√½, √2) by integer operations on its bits
// (musl's reduction), log(1+f) by the Cephes logf polynomial, and the rounding of 1+x
// corrected by (x − (u−1))/u, which keeps small x exact. NaN stays NaN, ±Inf becomes NaN
// (Predict turns either into cluster −1).
TEXT ·log1p8(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVUPS log1pc<>+0(SB), Y10
	VMOVUPS log1pc<>+96(SB), Y12
	VMOVUPS log1pc<>+128(SB), Y13
	VMOVUPS log1pc<>+160(SB), Y14
	VMOVUPS log1pc<>+192(SB), Y15

loop:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (SI), Y0
	VANDPS  log1pc<>+32(SB), Y0, Y1
	VADDPS  Y10, Y1, Y2
	VSUBPS  Y10, Y2, Y3
	VSUBPS  Y3, Y1, Y3
	VDIVPS  Y2, Y3, Y3
	VPADDD  Y12, Y2, Y4
	VPSRLD  $23, Y4, Y5
	VPSUBD  Y15, Y5, Y5
	VCVTDQ2PS Y5, Y5
	VPAND   Y13, Y4, Y6
	VPADDD  Y14, Y6, Y6
	VSUBPS  Y10, Y6, Y6
	VMULPS  Y6, Y6, Y7
	VMOVUPS log1pc<>+224(SB), Y8
	VFMADD213PS log1pc<>+256(SB), Y6, Y8
	VFMADD213PS log1pc<>+288(SB), Y6, Y8
	VFMADD213PS log1pc<>+320(SB), Y6, Y8
	VFMADD213PS log1pc<>+352(SB), Y6, Y8
	VFMADD213PS log1pc<>+384(SB), Y6, Y8
	VFMADD213PS log1pc<>+416(SB), Y6, Y8
	VFMADD213PS log1pc<>+448(SB), Y6, Y8
	VFMADD213PS log1pc<>+480(SB), Y6, Y8
	VMULPS  Y6, Y8, Y8
	VMULPS  Y7, Y8, Y8
	VMULPS  log1pc<>+512(SB), Y7, Y9
	VSUBPS  Y9, Y8, Y8
	VADDPS  Y6, Y8, Y8
	VFMADD231PS log1pc<>+544(SB), Y5, Y8
	VADDPS  Y3, Y8, Y8
	VANDPS  log1pc<>+64(SB), Y0, Y9
	VORPS   Y9, Y8, Y8
	VMOVUPS Y8, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET
