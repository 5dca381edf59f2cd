"""Transfer learning beyond a pretrained encoder under joint heads:

* :mod:`.initialization`: sequential transfer, a new run starting from a saved model's encoder (and
  the heads of tasks it already knows): ``--init-from``;
* :mod:`.mmd`: the maximum mean discrepancy between two samples of pooled vectors, the loss of
  domain adaptation (``--adapt``);
* :mod:`.significance`: paired bootstrap intervals and McNemar's test, so that a difference between
  two models is called a gain or a loss only when the data supports it.
* :mod:`.estimation`: a head's accuracy on unlabelled texts of a new domain, estimated from its
  confidences (ATC, DoC): ``mtl-text evaluate --estimate-on``.
"""
