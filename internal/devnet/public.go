package devnet

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// makePublic gives every bucket an anonymous read policy (GetObject and
// ListBucket for everyone): readers open another participant's bucket from
// its commitment, which carries no read key here (raonet's commitments
// hold one field: see seedCommitments), so they read unsigned. Writes
// still need the root key.
func (d *Devnet) makePublic(ctx context.Context, buckets []string) error {
	c := awss3.New(awss3.Options{
		BaseEndpoint: aws.String(d.S3.Endpoint),
		Region:       d.S3.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(d.S3.AccessKey, d.S3.SecretKey, ""),
	})
	for _, b := range buckets {
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[`+
			`{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%[1]s/*"]},`+
			`{"Effect":"Allow","Principal":"*","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s"]}]}`, b)
		if _, err := c.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(policy)}); err != nil {
			return fmt.Errorf("devnet: public read policy of %s: %w", b, err)
		}
	}
	return nil
}
