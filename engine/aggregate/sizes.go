package aggregate

import "unsafe"

var (
	sizeofHostEntry = unsafe.Sizeof(hostEntry{})
	sizeofWeight    = unsafe.Sizeof(weight{})
	sizeofHLL2      = unsafe.Sizeof(hll2{})
	sizeofVictim    = unsafe.Sizeof(victimEntry{})
)
