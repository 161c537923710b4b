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
	MOVQ cols+0(FP), SI
	MOVQ colIdx+8(FP), DI
	MOVQ d+16(FP), R8
	MOVQ off+24(FP), R9
	MOVQ n+32(FP), R10
	MOVQ a+40(FP), R11
	MOVQ b+48(FP), R12
	MOVQ coef+56(FP), R13
	XORQ BX, BX

chunk:
	CMPQ R10, $8
	JLT  done
	MOVQ cn+64(FP), AX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5
	VBROADCASTSS 24(AX), Y6
	VBROADCASTSS 28(AX), Y7
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
	ACC(0, Y0)
	ACC(1, Y1)
	ACC(2, Y2)
	ACC(3, Y3)
	ACC(4, Y4)
	ACC(5, Y5)
	ACC(6, Y6)
	ACC(7, Y7)
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
	PICK(0, Y0)
	PICK(1, Y1)
	PICK(2, Y2)
	PICK(3, Y3)
	PICK(4, Y4)
	PICK(5, Y5)
	PICK(6, Y6)
	PICK(7, Y7)
	VMOVUPS Y14, (AX)(BX*1)
	VMOVUPS Y13, (DX)(BX*1)
	ADDQ    $8, R9
	ADDQ    $32, BX
	SUBQ    $8, R10
	JMP     chunk

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
	MOVQ cols+0(FP), SI
	MOVQ colIdx+8(FP), DI
	MOVQ d+16(FP), R8
	MOVQ off+24(FP), R9
	MOVQ n+32(FP), R10
	MOVQ a+40(FP), R11
	MOVQ b+48(FP), R12
	MOVQ coef+56(FP), R13
	XORQ BX, BX

chunk16:
	CMPQ R10, $16
	JLT  done16
	MOVQ cn+64(FP), AX
	VBROADCASTSS 0(AX), Z0
	VBROADCASTSS 4(AX), Z1
	VBROADCASTSS 8(AX), Z2
	VBROADCASTSS 12(AX), Z3
	VBROADCASTSS 16(AX), Z4
	VBROADCASTSS 20(AX), Z5
	VBROADCASTSS 24(AX), Z6
	VBROADCASTSS 28(AX), Z7
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
	ACC16(0, Z0)
	ACC16(1, Z1)
	ACC16(2, Z2)
	ACC16(3, Z3)
	ACC16(4, Z4)
	ACC16(5, Z5)
	ACC16(6, Z6)
	ACC16(7, Z7)
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
	PICK16(0, Z0)
	PICK16(1, Z1)
	PICK16(2, Z2)
	PICK16(3, Z3)
	PICK16(4, Z4)
	PICK16(5, Z5)
	PICK16(6, Z6)
	PICK16(7, Z7)
	VMOVUPS Z14, (AX)(BX*1)
	VMOVDQU32 Z13, (DX)(BX*1)
	ADDQ    $16, R9
	ADDQ    $64, BX
	SUBQ    $16, R10
	JMP     chunk16

done16:
	VZEROUPPER
	RET
