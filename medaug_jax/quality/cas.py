"""Classification Accuracy Score (Ravuri & Vinyals, 2019): the ResNet-18,
with the run's own classifier recipe, trained on the generated images only
and tested on the real test set at the epoch of its best real validation AUC
(`cas_auc`, `cas_acc`). A second classifier training, so it is a switch:
config.quality.cas (on in the grid configs)."""
from medaug_jax import classifier, rngs


def compute(ctx):
  key = rngs.stream(ctx.key, rngs.QUALITY_CAS)
  _, _, history = classifier.fit_and_score(ctx.config.classifier, ctx.generated, ctx.dataset,
                                           key, phase='cas')
  selected = classifier.select(history)['selected']
  return {'cas_auc': selected['test_auc'], 'cas_acc': selected['test_acc']}
