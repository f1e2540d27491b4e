module github.com/agoranet/agora

go 1.26.8

require (
	github.com/opencontainers/runtime-spec v1.2.0
	golang.org/x/sys v0.49.0
)

require gopkg.in/yaml.v3 v3.0.1 // indirect
