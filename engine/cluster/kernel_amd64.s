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

// Constants of log1p8, each repeated 8 times (one YMM): see log1p8.
DATA log1pc<>+0(SB)/4, $0x3f800000
DATA log1pc<>+4(SB)/4, $0x3f800000
DATA log1pc<>+8(SB)/4, $0x3f800000
DATA log1pc<>+12(SB)/4, $0x3f800000
DATA log1pc<>+16(SB)/4, $0x3f800000
DATA log1pc<>+20(SB)/4, $0x3f800000
DATA log1pc<>+24(SB)/4, $0x3f800000
DATA log1pc<>+28(SB)/4, $0x3f800000
DATA log1pc<>+32(SB)/4, $0x7fffffff
DATA log1pc<>+36(SB)/4, $0x7fffffff
DATA log1pc<>+40(SB)/4, $0x7fffffff
DATA log1pc<>+44(SB)/4, $0x7fffffff
DATA log1pc<>+48(SB)/4, $0x7fffffff
DATA log1pc<>+52(SB)/4, $0x7fffffff
DATA log1pc<>+56(SB)/4, $0x7fffffff
DATA log1pc<>+60(SB)/4, $0x7fffffff
DATA log1pc<>+64(SB)/4, $0x80000000
DATA log1pc<>+68(SB)/4, $0x80000000
DATA log1pc<>+72(SB)/4, $0x80000000
DATA log1pc<>+76(SB)/4, $0x80000000
DATA log1pc<>+80(SB)/4, $0x80000000
DATA log1pc<>+84(SB)/4, $0x80000000
DATA log1pc<>+88(SB)/4, $0x80000000
DATA log1pc<>+92(SB)/4, $0x80000000
DATA log1pc<>+96(SB)/4, $0x004afb0d
DATA log1pc<>+100(SB)/4, $0x004afb0d
DATA log1pc<>+104(SB)/4, $0x004afb0d
DATA log1pc<>+108(SB)/4, $0x004afb0d
DATA log1pc<>+112(SB)/4, $0x004afb0d
DATA log1pc<>+116(SB)/4, $0x004afb0d
DATA log1pc<>+120(SB)/4, $0x004afb0d
DATA log1pc<>+124(SB)/4, $0x004afb0d
DATA log1pc<>+128(SB)/4, $0x007fffff
DATA log1pc<>+132(SB)/4, $0x007fffff
DATA log1pc<>+136(SB)/4, $0x007fffff
DATA log1pc<>+140(SB)/4, $0x007fffff
DATA log1pc<>+144(SB)/4, $0x007fffff
DATA log1pc<>+148(SB)/4, $0x007fffff
DATA log1pc<>+152(SB)/4, $0x007fffff
DATA log1pc<>+156(SB)/4, $0x007fffff
DATA log1pc<>+160(SB)/4, $0x3f3504f3
DATA log1pc<>+164(SB)/4, $0x3f3504f3
DATA log1pc<>+168(SB)/4, $0x3f3504f3
DATA log1pc<>+172(SB)/4, $0x3f3504f3
DATA log1pc<>+176(SB)/4, $0x3f3504f3
DATA log1pc<>+180(SB)/4, $0x3f3504f3
DATA log1pc<>+184(SB)/4, $0x3f3504f3
DATA log1pc<>+188(SB)/4, $0x3f3504f3
DATA log1pc<>+192(SB)/4, $0x0000007f
DATA log1pc<>+196(SB)/4, $0x0000007f
DATA log1pc<>+200(SB)/4, $0x0000007f
DATA log1pc<>+204(SB)/4, $0x0000007f
DATA log1pc<>+208(SB)/4, $0x0000007f
DATA log1pc<>+212(SB)/4, $0x0000007f
DATA log1pc<>+216(SB)/4, $0x0000007f
DATA log1pc<>+220(SB)/4, $0x0000007f
DATA log1pc<>+224(SB)/4, $0x3d9021bb
DATA log1pc<>+228(SB)/4, $0x3d9021bb
DATA log1pc<>+232(SB)/4, $0x3d9021bb
DATA log1pc<>+236(SB)/4, $0x3d9021bb
DATA log1pc<>+240(SB)/4, $0x3d9021bb
DATA log1pc<>+244(SB)/4, $0x3d9021bb
DATA log1pc<>+248(SB)/4, $0x3d9021bb
DATA log1pc<>+252(SB)/4, $0x3d9021bb
DATA log1pc<>+256(SB)/4, $0xbdebd1b8
DATA log1pc<>+260(SB)/4, $0xbdebd1b8
DATA log1pc<>+264(SB)/4, $0xbdebd1b8
DATA log1pc<>+268(SB)/4, $0xbdebd1b8
DATA log1pc<>+272(SB)/4, $0xbdebd1b8
DATA log1pc<>+276(SB)/4, $0xbdebd1b8
DATA log1pc<>+280(SB)/4, $0xbdebd1b8
DATA log1pc<>+284(SB)/4, $0xbdebd1b8
DATA log1pc<>+288(SB)/4, $0x3def251a
DATA log1pc<>+292(SB)/4, $0x3def251a
DATA log1pc<>+296(SB)/4, $0x3def251a
DATA log1pc<>+300(SB)/4, $0x3def251a
DATA log1pc<>+304(SB)/4, $0x3def251a
DATA log1pc<>+308(SB)/4, $0x3def251a
DATA log1pc<>+312(SB)/4, $0x3def251a
DATA log1pc<>+316(SB)/4, $0x3def251a
DATA log1pc<>+320(SB)/4, $0xbdfe5d4f
DATA log1pc<>+324(SB)/4, $0xbdfe5d4f
DATA log1pc<>+328(SB)/4, $0xbdfe5d4f
DATA log1pc<>+332(SB)/4, $0xbdfe5d4f
DATA log1pc<>+336(SB)/4, $0xbdfe5d4f
DATA log1pc<>+340(SB)/4, $0xbdfe5d4f
DATA log1pc<>+344(SB)/4, $0xbdfe5d4f
DATA log1pc<>+348(SB)/4, $0xbdfe5d4f
DATA log1pc<>+352(SB)/4, $0x3e11e9bf
DATA log1pc<>+356(SB)/4, $0x3e11e9bf
DATA log1pc<>+360(SB)/4, $0x3e11e9bf
DATA log1pc<>+364(SB)/4, $0x3e11e9bf
DATA log1pc<>+368(SB)/4, $0x3e11e9bf
DATA log1pc<>+372(SB)/4, $0x3e11e9bf
DATA log1pc<>+376(SB)/4, $0x3e11e9bf
DATA log1pc<>+380(SB)/4, $0x3e11e9bf
DATA log1pc<>+384(SB)/4, $0xbe2aae50
DATA log1pc<>+388(SB)/4, $0xbe2aae50
DATA log1pc<>+392(SB)/4, $0xbe2aae50
DATA log1pc<>+396(SB)/4, $0xbe2aae50
DATA log1pc<>+400(SB)/4, $0xbe2aae50
DATA log1pc<>+404(SB)/4, $0xbe2aae50
DATA log1pc<>+408(SB)/4, $0xbe2aae50
DATA log1pc<>+412(SB)/4, $0xbe2aae50
DATA log1pc<>+416(SB)/4, $0x3e4cceac
DATA log1pc<>+420(SB)/4, $0x3e4cceac
DATA log1pc<>+424(SB)/4, $0x3e4cceac
DATA log1pc<>+428(SB)/4, $0x3e4cceac
DATA log1pc<>+432(SB)/4, $0x3e4cceac
DATA log1pc<>+436(SB)/4, $0x3e4cceac
DATA log1pc<>+440(SB)/4, $0x3e4cceac
DATA log1pc<>+444(SB)/4, $0x3e4cceac
DATA log1pc<>+448(SB)/4, $0xbe7ffffc
DATA log1pc<>+452(SB)/4, $0xbe7ffffc
DATA log1pc<>+456(SB)/4, $0xbe7ffffc
DATA log1pc<>+460(SB)/4, $0xbe7ffffc
DATA log1pc<>+464(SB)/4, $0xbe7ffffc
DATA log1pc<>+468(SB)/4, $0xbe7ffffc
DATA log1pc<>+472(SB)/4, $0xbe7ffffc
DATA log1pc<>+476(SB)/4, $0xbe7ffffc
DATA log1pc<>+480(SB)/4, $0x3eaaaaaa
DATA log1pc<>+484(SB)/4, $0x3eaaaaaa
DATA log1pc<>+488(SB)/4, $0x3eaaaaaa
DATA log1pc<>+492(SB)/4, $0x3eaaaaaa
DATA log1pc<>+496(SB)/4, $0x3eaaaaaa
DATA log1pc<>+500(SB)/4, $0x3eaaaaaa
DATA log1pc<>+504(SB)/4, $0x3eaaaaaa
DATA log1pc<>+508(SB)/4, $0x3eaaaaaa
DATA log1pc<>+512(SB)/4, $0x3f000000
DATA log1pc<>+516(SB)/4, $0x3f000000
DATA log1pc<>+520(SB)/4, $0x3f000000
DATA log1pc<>+524(SB)/4, $0x3f000000
DATA log1pc<>+528(SB)/4, $0x3f000000
DATA log1pc<>+532(SB)/4, $0x3f000000
DATA log1pc<>+536(SB)/4, $0x3f000000
DATA log1pc<>+540(SB)/4, $0x3f000000
DATA log1pc<>+544(SB)/4, $0x3f317218
DATA log1pc<>+548(SB)/4, $0x3f317218
DATA log1pc<>+552(SB)/4, $0x3f317218
DATA log1pc<>+556(SB)/4, $0x3f317218
DATA log1pc<>+560(SB)/4, $0x3f317218
DATA log1pc<>+564(SB)/4, $0x3f317218
DATA log1pc<>+568(SB)/4, $0x3f317218
DATA log1pc<>+572(SB)/4, $0x3f317218
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
