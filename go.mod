module github.com/agoranet/agora

go 1.26.8
