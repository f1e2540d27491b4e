package swebench

import "bytes"

// ParseParquet is LoadInstances on a Parquet file's content in memory.
func ParseParquet(name string, data []byte) ([]Instance, []ItemError, error) {
	c := newCollector()
	if err := c.readParquet(name, bytes.NewReader(data), int64(len(data))); err != nil {
		return nil, nil, err
	}
	return c.out, c.bad, nil
}

// PythonRepr exposes pythonRepr to the black-box tests.
var PythonRepr = pythonRepr
