//go:build !purego

package kernels

// The dispatch of the pool kernels: each level's assembly, with the
// slices' extent checked before it runs, or the pure-Go twin.

// maxPool22Kernel pools one channel (x from the first input row, of width
// w, at flat index top; rows output rows of len(y)/rows outputs) on the
// level's kernel, with the extents checked before assembly touches them,
// and reports whether it did: not at the generic level. AVX-512 machines
// run the AVX2 kernel.
func maxPool22Kernel(level ISA, rows int, x []float32, w int, y []float32, arg []int32, top int) bool {
	if len(y) == 0 || level == Generic {
		return false
	}
	n := len(y) / rows
	// The last window reads row 2·rows−1 up to column 2n−1.
	_, _ = x[(2*rows-1)*w+2*n-1], arg[len(y)-1]
	idx := [8]int32{0, 2, 4, 6, 8, 10, 12, 14}
	for i := range idx {
		idx[i] += int32(top)
	}
	rem := n % 8
	masks := [3][8]int32{convMasks[min(8, 2*rem)], convMasks[max(0, 2*rem-8)], convMasks[rem]}
	// A row's tail stored whole writes 8−rem lanes past the row's end: the
	// last rows whose following rows hold fewer outputs store through masks.
	maskRows := 1
	if rem > 0 {
		maskRows = min(rows, max(1, (8-rem+n-1)/n))
	}
	maxPool22y(rows, n, &x[0], w, &y[0], &arg[0], &idx, &masks, maskRows)
	return true
}
