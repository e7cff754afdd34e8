package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/cpuid/v2"
)

// ParallelFLOPs is the size, in floating-point operations (2·m·n·k), from
// which Gemm splits a product across goroutines. Below it, handing work to
// another core costs about what it saves: on the 2-core EPYC of the README,
// BenchmarkGemmSplit gains nothing reliable up to 128³ (4.2 MFLOP) and
// 1.6–1.8× at 256³.
var ParallelFLOPs = 1 << 22

// maxWays bounds how many parts one product is split into.
const maxWays = 64

// splitWays returns how many goroutines a product of these dimensions should
// run on: one below ParallelFLOPs, otherwise up to GOMAXPROCS, and never more
// than there are tiles along the split dimension.
func splitWays(m, n, k int, kern microKernel) int {
	if 2*float64(m)*float64(n)*float64(k) < float64(ParallelFLOPs) {
		return 1
	}
	w := min(runtime.GOMAXPROCS(0), maxWays)
	tiles := max((m+kern.mr-1)/kern.mr, (n+kern.nr-1)/kern.nr)
	return min(w, tiles)
}

// part is one block of a split product: the rows or columns it owns, as
// already-offset sub-matrices.
type part struct {
	kern           microKernel
	transA, transB bool
	m, n, k        int
	a, b, c        []float32
	lda, ldb, ldc  int
	pre            prePanels // B's panels packed ahead, when hasPre
	hasPre         bool
	claimed        atomic.Bool
	wg             *sync.WaitGroup
	// task, when set, makes the part the range [lo, hi) of a computation
	// split by ranges (samples, channels) instead of a block of a product.
	task   ranged
	lo, hi int
}

// ranged is a computation over independent indices (a batch's samples, a
// layer's channels) that can run any range of them on its own.
type ranged interface{ runRange(lo, hi int) }

func (p *part) run() {
	if p.task != nil {
		p.task.runRange(p.lo, p.hi)
		return
	}
	if p.hasPre {
		gemmPacked(p.kern, p.transA, p.transB, p.m, p.n, p.k, p.a, p.lda, nil, 0, p.c, p.ldc, &p.pre)
		return
	}
	gemmSerial(p.kern, p.transA, p.transB, p.m, p.n, p.k, p.a, p.lda, p.b, p.ldb, p.c, p.ldc)
}

// job holds the parts of one split product; jobs are pooled so that a call
// allocates nothing once warm.
type job struct {
	parts [maxWays]part
	wg    sync.WaitGroup
	// The split computations' arguments, which the parts point to.
	conv  convTask
	bn    bnTask
	wgrad wgradTask
}

var (
	jobPool = sync.Pool{New: func() any { return new(job) }}
	queue   = make(chan *part, 4*maxWays)
	// started counts the helper goroutines; they live for the process and
	// sleep on queue when there is no work.
	startMu sync.Mutex
	started int
)

// ensureHelpers starts helpers until there are n-1 of them (the caller is
// the n-th worker).
func ensureHelpers(n int) {
	startMu.Lock()
	for ; started < n-1; started++ {
		go helper()
	}
	startMu.Unlock()
}

// helper runs queued parts that their caller has not claimed itself. It
// marks every part it takes off the queue done, run or not, so the caller
// knows when no helper still refers to its job.
//
// Waking a parked goroutine takes tens of microseconds on a virtual machine,
// as long as a whole small product; so after each part a helper polls the
// queue for SpinTime before it parks, and the parts of back-to-back products
// (the layers of one training step) start at once.
func helper() {
	for {
		p := <-queue
		for p != nil {
			if p.claimed.CompareAndSwap(false, true) {
				p.run()
			}
			p.wg.Done()
			p = spin()
		}
	}
}

// SpinTime is how long an idle helper polls for work before parking.
var SpinTime = 100 * time.Microsecond

// spin polls the queue for up to SpinTime, yielding the processor between
// polls so that other goroutines still run; it returns nil if nothing came.
func spin() *part {
	deadline := time.Now().Add(SpinTime)
	for i := 0; ; i++ {
		select {
		case p := <-queue:
			return p
		default:
		}
		if i%64 == 63 {
			if time.Now().After(deadline) {
				return nil
			}
			runtime.Gosched()
		}
	}
}

// gemmParallel splits C into w blocks of whole tiles along its longer
// dimension (in tiles) and computes them concurrently. Each element of C is
// computed by exactly one part with the same k-blocked sum as gemmSerial, so
// the bits are those of the serial product.
func gemmParallel(w int, kern microKernel, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	gemmSplit(w, kern, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, nil)
}

// gemmParallelPre is gemmParallel for GemmB: A untransposed, B's panels
// packed ahead in pre (a column block's from its first panel on).
func gemmParallelPre(w int, kern microKernel, m, n, k int, a []float32, lda int, c []float32, ldc int, pre *prePanels) {
	gemmSplit(w, kern, false, false, m, n, k, a, lda, nil, 0, c, ldc, pre)
}

// gemmSplit is gemmParallel, with B's panels from pre when it is not nil.
func gemmSplit(w int, kern microKernel, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, pre *prePanels) {
	ensureHelpers(w)
	j := jobPool.Get().(*job)
	mt, nt := (m+kern.mr-1)/kern.mr, (n+kern.nr-1)/kern.nr
	byCols := nt >= mt
	tiles, unit := mt, kern.mr
	if byCols {
		tiles, unit = nt, kern.nr
	}
	for i := 0; i < w; i++ {
		lo, hi := tiles*i/w*unit, tiles*(i+1)/w*unit
		p := &j.parts[i]
		*p = part{kern: kern, transA: transA, transB: transB, k: k, lda: lda, ldb: ldb, ldc: ldc, wg: &j.wg}
		if pre != nil {
			p.pre, p.hasPre = *pre, true
		}
		if byCols {
			hi = min(hi, n)
			p.m, p.n, p.a = m, hi-lo, a
			p.c = c[lo:]
			if pre != nil { // the block's panels, lo/nr on
				p.pre.first += lo / kern.nr
			} else if transB { // B is n×k: the block is rows lo..hi
				p.b = b[lo*ldb:]
			} else {
				p.b = b[lo:]
			}
		} else {
			hi = min(hi, m)
			p.m, p.n = hi-lo, n
			if pre == nil {
				p.b = b
			}
			p.c = c[lo*ldc:]
			if transA { // A is k×m: the block is columns lo..hi
				p.a = a[lo:]
			} else {
				p.a = a[lo*lda:]
			}
		}
	}
	runParts(j, w)
}

// runParts runs the first w parts of j, the caller taking the first and
// any that no helper has started, and returns j to the pool once no helper
// refers to it.
func runParts(j *job, w int) {
	j.wg.Add(w - 1)
	for i := 1; i < w; i++ {
		queue <- &j.parts[i]
	}
	j.parts[0].run()
	// Run whatever no helper has started yet (helpers may be busy with
	// other callers' parts), then wait until every queued part is off the
	// queue.
	for i := 1; i < w; i++ {
		if p := &j.parts[i]; p.claimed.CompareAndSwap(false, true) {
			p.run()
		}
	}
	j.wg.Wait()
	for i := range w {
		j.parts[i] = part{}
	}
	// Dropped before the job goes back: another caller may take it at once.
	j.conv, j.bn, j.wgrad = convTask{}, bnTask{}, wgradTask{}
	jobPool.Put(j)
}

// gemmOn is Gemm, kept on the calling goroutine when serial is set: a
// caller that already runs on a helper must not wait on others (the
// helpers it would queue parts for may all be waiting too).
func gemmOn(serial, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if !serial {
		Gemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	if m == 0 || n == 0 || k == 0 {
		return
	}
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
	gemmSerial(micro(active), transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
}

// rangeWays is how many goroutines a computation over n independent
// indices of flops floating-point operations each runs on: one below
// ParallelFLOPs in all, otherwise up to GOMAXPROCS, never more than n.
func rangeWays(n int, flops float64) int {
	if float64(n)*flops < float64(ParallelFLOPs) {
		return 1
	}
	return min(runtime.GOMAXPROCS(0), maxWays, n)
}

// splitRange runs t (one of j's tasks) over [0, n) in w contiguous ranges,
// one a goroutine, and returns j to the pool. Each index runs the same
// serial code whatever w is, so the bits do not depend on it.
func splitRange(j *job, w, n int, t ranged) {
	ensureHelpers(w)
	for i := 0; i < w; i++ {
		j.parts[i] = part{wg: &j.wg, task: t, lo: n * i / w, hi: n * (i + 1) / w}
	}
	runParts(j, w)
}

// CacheSamples is how many samples of a batch a network runs through its
// layers at once when each holds bytes in the batch's buffers: as many as
// fit in half this core's L2 cache (512 KiB where cpuid does not say), at
// least one. Measured on vggish (410 KB a sample, AVX-512, family 1Ah
// model 02h, batch of 64): parts of 1 to 4 samples took 167–170 µs a
// sample, the whole batch at once 205 µs, its activations streaming from
// memory.
func CacheSamples(bytes int) int {
	l2 := cpuid.CPU.Cache.L2
	if l2 < 64<<10 {
		l2 = 512 << 10
	}
	return max(1, l2/2/max(bytes, 1))
}
