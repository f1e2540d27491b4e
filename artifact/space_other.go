//go:build !linux

package artifact

import "math"

// freeBytes is unknown off Linux: no download is refused for space.
func freeBytes(dir string) (int64, error) { return math.MaxInt64, nil }
