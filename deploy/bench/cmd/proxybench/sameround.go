package main

// sameRound is b / a of two targets measured in the same rounds: the
// medians over the rounds of the ratio of the two runs of one round.
//
// This is what the verdicts use. On this machine a core runs, for seconds
// at a time, at one of two speeds about 1.5× apart (15k or 23k req/s for
// the plain target, CPU 0 and CPU 1 independently), so the median of one
// target's rounds may be a slow run and the other's a fast one: the ratio
// of the medians then moves by 20 % with nothing changed. Runs of the same
// round are seconds apart, and the median of their ratios drops the rounds
// where a switch fell between them.
type sameRound struct {
	RPS, CPU float64 // throughput and CPU per request
	Rounds   int     // rounds where both had a figure
}

func sameRoundRatios(a, b *row) sameRound {
	var rps, cpu []float64
	for i := range min(len(a.T.Tput), len(b.T.Tput)) {
		p, q := a.T.Tput[i], b.T.Tput[i]
		if p.RPS == 0 || p.CPUPer1k == 0 {
			continue
		}
		rps = append(rps, q.RPS/p.RPS)
		cpu = append(cpu, q.CPUPer1k/p.CPUPer1k)
	}
	return sameRound{RPS: median(rps), CPU: median(cpu), Rounds: len(rps)}
}
