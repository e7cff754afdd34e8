package runtime

// mix is SplitMix64's finaliser: a bijection of 64-bit words whose outputs
// for nearby inputs look independent.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// StepNoise is the noise of training step step of a run seeded with seed
// (Batch.Noise): dropout's masks are a function of it, the layer, the
// sample's index in the step's batch and the element, so a run draws the
// same masks for any number of workers and after a resume.
func StepNoise(seed uint64, step int) uint64 { return mix(mix(seed^0x6a09e667f3bcc909) + uint64(step)) }

// DropoutScale is dropout's factor for element elem of sample sample in
// layer layer under noise: 0 with probability p, else 1/(1 − p) (PyTorch's
// scaling of the kept values in training), rounded to T. It draws 53
// uniform bits from a counter-based hash, so no state is carried between
// calls and any element can be drawn alone.
func DropoutScale[T Float](noise uint64, layer, sample, elem int, p float64) T {
	h := mix(mix(mix(noise^uint64(layer+1)*0xd1b54a32d192ed03)+uint64(sample)) + uint64(elem))
	if float64(h>>11)/(1<<53) < p {
		return 0
	}
	return T(1 / (1 - p))
}
