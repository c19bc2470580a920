package s3_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/s3"
)

// A miner's own bucket on Cloudflare R2, its key in a .env file as the
// original Python reads it.
func ExampleNew() {
	ctx := context.Background()
	o := s3.DefaultOptions()
	o.Bucket = "my-miner-bucket"
	o.Endpoint = "https://<account>.r2.cloudflarestorage.com"
	o.Region = "auto"
	o.DotEnv = ".env" // AWS_ACCESS_KEY_ID=…, AWS_SECRET_ACCESS_KEY=…
	st, err := s3.New(ctx, o)
	if err != nil {
		panic(err)
	}
	data := []byte("slice bytes")
	key := "bistro/v1/1/7/5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.safetensors"
	if err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		panic(err)
	}
}

// Opening a bucket by URL, with credentials from the environment.
func Example_open() {
	ctx := context.Background()
	st, err := bistro.Open(ctx, "s3://my-bucket?endpoint=https://s3.us-east-1.amazonaws.com&region=us-east-1")
	if err != nil {
		panic(err)
	}
	b, hash, err := bistro.Fetch(ctx, st, "bistro/v1/1/7/aggregate.safetensors", 64<<20)
	fmt.Println(len(b), hash, err)
}

// A validator reads miners' buckets from their commitments on chain.
func ExampleBuckets() {
	ctx := context.Background()
	var miners []bistro.Commitment // from the chain, by hotkey
	var hotkeys []bistro.Hotkey
	buckets := &s3.Buckets{Options: s3.DefaultOptions()} // public https endpoints only
	for i, c := range miners {
		st, err := buckets.Open(ctx, hotkeys[i], c)
		if err != nil {
			continue // refused endpoint: the miner's slices count as missing
		}
		_, _, _ = bistro.Fetch(ctx, st, bistro.SliceKey(1, 7, hotkeys[i]), 1<<20)
	}
}
