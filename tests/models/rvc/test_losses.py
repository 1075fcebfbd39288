import torch

from timbrel.models.rvc.losses import discriminator_loss, feature_loss, generator_loss, kl_loss


def test_least_squares_losses_on_known_values():
    real = [torch.ones(2, 3), torch.zeros(1, 4)]
    fake = [torch.zeros(2, 3), torch.full((1, 4), 2.0)]
    total, r, g = discriminator_loss(real, fake)
    assert [x.item() for x in r] == [0.0, 1.0]
    assert [x.item() for x in g] == [0.0, 4.0]
    assert total.item() == 5.0
    gen, terms = generator_loss(fake)
    assert [x.item() for x in terms] == [1.0, 1.0]
    assert gen.item() == 2.0


def test_feature_matching_is_twice_the_summed_mean_abs_difference_and_detaches_real():
    real = [[torch.zeros(2, 2, requires_grad=True)], [torch.ones(3)]]
    fake = [[torch.full((2, 2), 0.5, requires_grad=True)], [torch.zeros(3)]]
    loss = feature_loss(real, fake)
    assert loss.item() == 2 * (0.5 + 1.0)
    loss.backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None


def test_kl_is_a_masked_mean():
    z_p = torch.zeros(1, 2, 3)
    m_p = torch.zeros(1, 2, 3)
    logs_p = torch.zeros(1, 2, 3)
    logs_q = torch.tensor([[[-1.0, -1.0, 100.0], [-1.0, -1.0, 100.0]]])
    mask = torch.tensor([[[1.0, 1.0, 0.0]]])
    # per element: 0 - (-1) - 0.5 = 0.5 on the 4 unmasked elements; 2 mask frames
    assert kl_loss(z_p, logs_q, m_p, logs_p, mask).item() == 4 * 0.5 / 2
