module fedledger.local/tools

go 1.25

require github.com/ipfs/kubo v0.39.0
