package swebench

// PythonRepr exposes pythonRepr to the black-box tests.
var PythonRepr = pythonRepr
