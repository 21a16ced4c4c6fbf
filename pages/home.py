"""Landing page: what this is and what to do, in a few lines."""
import streamlit as st

from ui import shared

shared.use_st_navigation()   # first: a visit straight to this page (see shared)

shared.owner()
st.title("🧠 MNIST neural-network playground")
st.markdown(
    """
Train a real neural network on 60,000 handwritten digits, watch it learn, then test it with
your own drawings.

1. **Train** — pick a network in the sidebar (layers, width, activation, initial weights σ,
   learning rate, optimizer...), press **Start** and watch the loss and accuracy curves live.
   Pause, step one mini-batch at a time, change the learning rate while it trains.
2. **Draw a digit** — draw with the mouse or a finger: the network says what it sees, and you see
   the 28×28 image it actually gets.
3. **Look inside** — where it is wrong (confusion matrix, its worst mistakes), what the first layer
   learned, and why a badly chosen σ stops a deep network from learning at all.
4. **Runs** — every run you made is kept: compare their curves side by side, rerun one with one
   change, download the table.
5. **Experiments** — a lecture's comparison in one click (initialization σ, depth, learning rate,
   overfitting, optimizers, ...): its runs train one after another and fill in the lecture's table.

In a class? Open the link your teacher gave you (**My class**). Teaching one? **Teach** creates a
class, hands out a lesson, shows every student's runs live and runs a prediction challenge.
"""
)
st.page_link("pages/train.py", label="Start training", icon="📈")
with st.expander("Experiments to try"):
    st.markdown(
        """
- **Softmax regression vs. a deep net**: set *Hidden layers* to 0 (7,850 parameters, ~92 %),
  then 2 (~98 %).
- **Why σ matters**: *Weight init* = N(0, σ²), 8 hidden layers, sigmoid or tanh: try σ = 0.01,
  then 1, then He init. Look inside shows the signal dying or exploding layer by layer.
- **Learning rate**: SGD with lr 0.001 (slow), 0.1 (good), 5 (diverges).
- **Overfitting**: training subset 2,000, 50 epochs, dropout 0: the training accuracy reaches
  100 % while the validation loss climbs. Then set dropout to 0.5, or turn on early stopping.
- **MSE vs. cross-entropy**: the same net learns much slower with the MSE loss.
"""
    )
