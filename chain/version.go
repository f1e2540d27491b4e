package chain

import (
	"fmt"
	"strconv"
	"strings"
)

// versionIntBase is the weight of each dotted part in VersionAsInt.
const versionIntBase = 1000

// VersionAsInt converts a dotted version such as "10.2.0" to the integer the
// Bittensor SDK uses as its default weights version_key:
// Σ part_i × 1000^i, counting i from the last part, so "10.2.0" is 10002000.
// Like the SDK it requires every part to be a decimal integer below 1000
// and the result to fit in an int32. Pre-release suffixes ("10.2.0rc1") are
// rejected.
func VersionAsInt(version string) (uint64, error) {
	parts := strings.Split(version, ".")
	var v uint64
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("version %q: part %d (%q) is not a non-negative integer", version, i, p)
		}
		if n >= versionIntBase {
			return 0, fmt.Errorf("version %q: part %d (%d) must be below %d", version, i, n, versionIntBase)
		}
		if v > (1<<31-1)/versionIntBase {
			return 0, fmt.Errorf("version %q: too many parts, result exceeds int32", version)
		}
		v = v*versionIntBase + n
	}
	if v >= 1<<31 {
		return 0, fmt.Errorf("version %q: result %d exceeds int32", version, v)
	}
	return v, nil
}
