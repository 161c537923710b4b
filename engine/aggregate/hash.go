package aggregate

import (
	"encoding/binary"
	"math/bits"
)

// Hash seeds. Fixed, so that the same input gives the same tables (determinism); a
// table's seed is mixed into every key.
const (
	mulA = 0x9e3779b97f4a7c15
	mulB = 0xbf58476d1ce4e5b9
	mulC = 0x94d049bb133111eb
)

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= mulB
	x ^= x >> 27
	x *= mulC
	x ^= x >> 31
	return x
}

// hashKey hashes a 16-byte address, a 16-bit port and a tag byte with a seed.
func hashKey(a *[16]byte, port uint16, tag uint8, seed uint64) uint64 {
	a0, a1 := binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:])
	hi, lo := bits.Mul64(a0^seed, mulA)
	h := hi ^ lo ^ a1
	hi, lo = bits.Mul64(h^uint64(port)<<8^uint64(tag), mulB)
	return mix64(hi ^ lo)
}

// hashValue hashes a value for a distinct-count sketch.
func hashValue(v uint64) uint64 { return mix64(v*mulA + mulC) }

// hashAddr hashes an address for a distinct-count sketch.
func hashAddr(a *[16]byte) uint64 {
	return mix64(binary.LittleEndian.Uint64(a[:8])*mulA ^ binary.LittleEndian.Uint64(a[8:])*mulC)
}
