package bistro_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/storage/mem"
	"github.com/bistro-go/bistro/subtensor"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/data"
)

type noBuckets struct{}

func (noBuckets) Open(_ context.Context, _ bistro.Hotkey, _ bistro.Commitment) (bistro.Storage, error) {
	return nil, bistro.ErrNotFound
}

// TestConfigChecks: a participant refuses parts that do not match its Params
// before it does anything.
func TestConfigChecks(t *testing.T) {
	ds, err := data.OpenOptics(data.OpticsOptions{PageLength: 128, HeldOut: 4})
	require.NoError(t, err)
	cfg, err := train.NewMLPConfig(256, 4, 8, 32)
	require.NoError(t, err)
	genesis, err := train.InitMLP(cfg, sha256.Sum256([]byte("g")))
	require.NoError(t, err)
	theta, err := bistro.ThetaHash(genesis)
	require.NoError(t, err)
	p := bistro.DefaultParams(1)
	p.PageLength, p.DatasetPages, p.DatasetDigest = 128, ds.Pages(), ds.Digest()
	p.Model, p.GenesisDigest = cfg, theta
	chain, err := subtensor.NewLocal(subtensor.DefaultLocalOptions())
	require.NoError(t, err)
	defer chain.Close()
	key, err := bistro.KeypairFromURI("//Miner")
	require.NoError(t, err)
	good := func() bistro.Config {
		return bistro.Config{Params: &p, Signer: key, Chain: chain, Buckets: noBuckets{}, Bucket: mem.New(),
			Trainer: &train.MLP{}, Dataset: ds, Genesis: genesis.Clone()}
	}
	_, err = bistro.NewMiner(good(), nil)
	require.NoError(t, err)
	_, err = bistro.NewValidator(good(), bistro.ValidatorOptions{})
	require.NoError(t, err)

	c := good()
	c.Chain = nil
	_, err = bistro.NewMiner(c, nil)
	assert.ErrorContains(t, err, "no Chain")

	other, err := data.OpenOptics(data.OpticsOptions{PageLength: 128, HeldOut: 5})
	require.NoError(t, err)
	c = good()
	c.Dataset = other
	_, err = bistro.NewMiner(c, nil)
	assert.ErrorIs(t, err, bistro.ErrInvalidParams, "another dataset")

	c = good()
	wrong, err := train.InitMLP(cfg, sha256.Sum256([]byte("not g")))
	require.NoError(t, err)
	c.Genesis = wrong
	_, err = bistro.NewValidator(c, bistro.ValidatorOptions{})
	assert.ErrorIs(t, err, bistro.ErrWrongBase, "another θ₀")

	c = good()
	bigger, err := train.NewMLPConfig(256, 4, 8, 33)
	require.NoError(t, err)
	g2, err := train.InitMLP(bigger, sha256.Sum256([]byte("g")))
	require.NoError(t, err)
	c.Genesis = g2
	_, err = bistro.NewMiner(c, nil)
	assert.ErrorIs(t, err, bistro.ErrInvalidParams, "another architecture")

	_, err = bistro.NewValidator(good(), bistro.ValidatorOptions{SampleSize: -1})
	assert.Error(t, err)
}
