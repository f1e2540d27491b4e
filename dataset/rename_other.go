//go:build !linux

package dataset

import "os"

// exchange puts directory a at b and b's old tree at a. Without
// renameat2 it takes two renames, so b is briefly missing.
func exchange(a, b string) error {
	old := a + ".old"
	if err := os.Rename(b, old); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		os.Rename(old, b)
		return err
	}
	return os.Rename(old, a)
}
