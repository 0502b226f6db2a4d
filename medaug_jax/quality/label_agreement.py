"""Label agreement: do generated images look like their class to a simple
classifier of the real ones?

A pixel logistic regression is fitted on the real training images; it labels
the generated images, and `label_agreement` is the fraction that get the
class they were generated for. Its accuracy on the real *validation* images,
`label_agreement_ceiling`, is what a real image of the same split scores, and
`label_agreement_chance` is 1/classes. For the AE, whose images reconstruct
the very training images the regression was fitted on, the agreement is
in-sample and can pass the ceiling.
"""
import numpy as np
from sklearn.linear_model import LogisticRegression


def _flat(split):
  return split.images.reshape(len(split), -1).astype(np.float32) / 255.0


def compute(ctx):
  dataset, generated = ctx.dataset, ctx.generated
  clf = LogisticRegression(max_iter=500, C=0.1)
  clf.fit(_flat(dataset.train), dataset.train.labels)
  return {'label_agreement': float(clf.score(_flat(generated), generated.labels)),
          'label_agreement_ceiling': float(clf.score(_flat(dataset.val), dataset.val.labels)),
          'label_agreement_chance': 1.0 / dataset.num_classes}
